#include "imgprep/commands/merge.h"

#include <ostream>

#include "imgprep/commands/run.h"
#include "imgprep/imgprep.h"

namespace imgprep {

int merge_command(const std::filesystem::path& out_dir, bool quiet, std::ostream& out,
                  std::ostream& err) {
  return exit_code_of(err, [&] {
    const MergeSummary s = merge_parts(out_dir);
    if (!quiet) {
      out << "imgprep: merged " << s.parts << " parts into " << out_dir.string() << ": "
          << s.inputs << " inputs, " << s.failed << " failed; " << s.files
          << (s.format == "images" ? " image files" : " shards");
      if (s.copied > 0) out << " (" << s.copied << " copied: the file system refused links)";
      out << "\n";
    }
    return kExitOk;
  });
}

}  // namespace imgprep

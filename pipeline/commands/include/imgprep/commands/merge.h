// `imgprep merge OUT`: joins the --shard K/N parts in OUT into one dataset (see merge_parts).
#pragma once

#include <filesystem>
#include <iosfwd>

namespace imgprep {

// Returns the exit code: 0 merged, 2 refused (the reason, one line, goes to err). The summary
// goes to out unless quiet.
int merge_command(const std::filesystem::path& out_dir, bool quiet, std::ostream& out,
                  std::ostream& err);

}  // namespace imgprep

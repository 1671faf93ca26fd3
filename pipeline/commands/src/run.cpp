#include "imgprep/commands/run.h"

#include <cstdio>
#include <ostream>

#include "dry_run.h"
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/imgprep.h"
#include "interrupts.h"

namespace imgprep {
namespace {

void print_summary(std::ostream& out, const Options& o, const JobSummary& s) {
  char line[256];
  std::snprintf(line, sizeof line,
                "imgprep: %lld processed, %lld failed, %zu skipped in %.2f s (%.1f images/s)\n",
                static_cast<long long>(s.processed), static_cast<long long>(s.failed), s.skipped,
                s.seconds, s.images_per_second());
  out << line;
  if (s.stopped_early)
    out << "imgprep: stopped early: more than " << o.max_errors << " inputs failed (--max-errors)\n";
  out << "  busy seconds per stage (all threads):";
  for (int stage = 0; stage < static_cast<int>(Stage::count); ++stage) {
    std::snprintf(line, sizeof line, " %s %.2f", stage_name(static_cast<Stage>(stage)),
                  s.busy_seconds[stage]);
    out << line;
  }
  out << "\n";
  if (o.decode == DecodeOn::gpu) {
    std::snprintf(line, sizeof line,
                  "  decoded on the GPU %lld, on the CPU %lld (of which the GPU's decoder gave "
                  "back %lld)\n",
                  static_cast<long long>(s.gpu_decoded),
                  static_cast<long long>(s.processed - s.gpu_decoded),
                  static_cast<long long>(s.gpu_decode_fallbacks));
    out << line;
  }
  for (const std::string& e : s.warnings) out << "  warning: " << e << "\n";
  if (s.failed > 0) out << "  failed inputs are listed in " << s.manifest.string() << "\n";
}

}  // namespace

int run_command(const Options& options, std::ostream& out, std::ostream& err) {
  JobStop stop;
  const InterruptGuard interrupts(stop);
  return exit_code_of(err, [&] {
    if (options.dry_run) return dry_run(options, out);
    const JobSummary summary = run_job(options, &stop);
    if (summary.already_complete) {
      out << "imgprep: " << options.output.string() << " is already complete\n";
    } else if (summary.interrupted != 0) {
      if (writes_shards(options.format))
        err << "imgprep: interrupted; " << summary.resumable_from << " of " << summary.inputs
            << " inputs are in complete shards. Run the same command with --resume to "
               "continue.\n";
      else
        err << "imgprep: interrupted; the image files written so far are complete and listed in "
            << summary.manifest.string() << "\n";
    } else if (!options.quiet) {  // --quiet: errors only
      out << "imgprep: " << summary.engine << "\n";
      print_summary(out, options, summary);
    }
    return summary.exit_code();
  });
}

int exit_code_of(std::ostream& err, const std::function<int()>& command) {
  try {
    return command();
  } catch (const GpuError& e) {
    err << "imgprep: GPU error: " << e.what() << "\n";
  } catch (const std::exception& e) {
    // Usage, input, output and worker errors, and anything else that ends a command (a folder
    // that cannot be created, an unreadable journal): a one-line reason, never an abort.
    err << "imgprep: " << e.what() << "\n";
  }
  return kExitUsage;
}

}  // namespace imgprep

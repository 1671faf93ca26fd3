#include "imgprep/pipeline/run.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "imgprep/pipeline/progress.h"
#include "imgprep/pipeline/tbb_engine.h"
#include "imgprep/version.h"

namespace imgprep {
namespace fs = std::filesystem;
namespace {

void prepare_output_dir(const fs::path& out) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw OutputError("OUT exists and is not a folder: " + out.string());
  fs::create_directories(out, ec);
  if (ec) throw OutputError("cannot create OUT " + out.string() + ": " + ec.message());
}

void print_summary(std::ostream& out, const Options& o, const InputList& inputs,
                   const RunStats& stats, double seconds, bool stopped) {
  const int64_t done = stats.done.load(), failed = stats.failed.load();
  char line[256];
  std::snprintf(line, sizeof line,
                "imgprep: %lld processed, %lld failed, %zu skipped in %.2f s (%.1f images/s)\n",
                static_cast<long long>(done - failed), static_cast<long long>(failed),
                inputs.skipped, seconds, seconds > 0 ? done / seconds : 0.0);
  out << line;
  if (stopped)
    out << "imgprep: stopped early: more than " << o.max_errors << " inputs failed (--max-errors)\n";
  out << "  busy seconds per stage (all threads):";
  for (int s = 0; s < static_cast<int>(Stage::count); ++s) {
    std::snprintf(line, sizeof line, " %s %.2f", stage_name(static_cast<Stage>(s)),
                  stats.busy_seconds(static_cast<Stage>(s)));
    out << line;
  }
  out << "\n";
  for (const std::string& e : inputs.walk_errors) out << "  warning: " << e << "\n";
  if (failed > 0) out << "  failed inputs are listed in " << (o.output / "manifest.jsonl").string()
                      << "\n";
}

}  // namespace

int run_command(const Options& options, std::ostream& out, std::ostream& err) {
  try {
    validate(options);
    configure_codecs(options.max_pixels);
    const InputList inputs = list_inputs(options.input, options.shard);
    prepare_output_dir(options.output);

    const ImageProcessor processor(options);
    std::unique_ptr<OutputSink> sink = make_output_sink(options, processor.spec(), inputs);
    RunStats stats;
    stats.total = static_cast<int64_t>(inputs.items.size());
    std::atomic<bool> stop{false};
    const auto start = std::chrono::steady_clock::now();
    {
      ProgressReporter progress(stats, options.quiet);
      EngineRun run{inputs.items, options, processor, *sink, stats, stop};
      run_tbb_engine(run);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const nlohmann::json output = sink->finish();

    if (!inputs.classes.empty())
      AtomicFile::write_file(options.output / "classes.json",
                             nlohmann::json(inputs.classes).dump(2) + "\n");
    const nlohmann::ordered_json meta = {
        {"imgprep_version", kVersion},
        {"config", to_json(options)},
        {"output", output},
        {"inputs", stats.total},
        {"failed", stats.failed.load()},
        {"skipped", inputs.skipped},
        {"has_labels", inputs.has_labels},
    };
    AtomicFile::write_file(options.output / "meta.json", meta.dump(2) + "\n");
    print_summary(out, options, inputs, stats, seconds, stop.load());
    return stats.failed.load() > 0 || stop.load() ? kExitSomeFailed : kExitOk;
  } catch (const UsageError& e) {
    err << "imgprep: " << e.what() << "\n";
  } catch (const InputError& e) {
    err << "imgprep: " << e.what() << "\n";
  } catch (const OutputError& e) {
    err << "imgprep: " << e.what() << "\n";
  }
  return kExitUsage;
}

}  // namespace imgprep

#include "imgprep/pipeline/run.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "imgprep/pipeline/gpu_engine.h"
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

struct EngineChoice {
  bool gpu = false;
  std::string line;  // which engine, in one line
};

// --engine auto takes the GPU when this build and machine have a usable one.
EngineChoice choose_engine(const Options& o) {
  if (o.engine == Engine::cpu) return {false, "engine cpu"};
  const GpuProbe probe = probe_gpu(o.device);
  if (probe.usable) return {true, "engine gpu (" + probe.description + ")"};
  if (o.engine == Engine::gpu) throw UsageError("--engine gpu: " + probe.description);
  return {false, "engine cpu (no GPU: " + probe.description + ")"};
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
    const EngineChoice engine = choose_engine(options);
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
      if (engine.gpu)
        run_gpu_engine(run, options.device, options.batch);
      else
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
        {"engine", engine.line},
        {"output", output},
        {"inputs", stats.total},
        {"failed", stats.failed.load()},
        {"skipped", inputs.skipped},
        {"has_labels", inputs.has_labels},
    };
    AtomicFile::write_file(options.output / "meta.json", meta.dump(2) + "\n");
    out << "imgprep: " << engine.line << "\n";
    print_summary(out, options, inputs, stats, seconds, stop.load());
    return stats.failed.load() > 0 || stop.load() ? kExitSomeFailed : kExitOk;
  } catch (const UsageError& e) {
    err << "imgprep: " << e.what() << "\n";
  } catch (const InputError& e) {
    err << "imgprep: " << e.what() << "\n";
  } catch (const OutputError& e) {
    err << "imgprep: " << e.what() << "\n";
  } catch (const GpuError& e) {
    err << "imgprep: GPU error: " << e.what() << "\n";
  }
  return kExitUsage;
}

}  // namespace imgprep

#include "imgprep/pipeline/run.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include <fstream>

#include "imgprep/pipeline/gpu_engine.h"
#include "imgprep/pipeline/json_text.h"
#include "imgprep/pipeline/run_journal.h"
#include "interrupts.h"
#include "imgprep/pipeline/procs_engine.h"
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
  const std::string cpu =
      o.cpu_engine == CpuEngine::procs
          ? "engine cpu (procs: " + std::to_string(o.resolved_workers()) + " worker processes"
          : "engine cpu (tbb";
  if (o.engine == Engine::cpu) return {false, cpu + ")"};
  const GpuProbe probe = probe_gpu(o.device);
  if (probe.usable) return {true, "engine gpu (" + probe.description + ")"};
  if (o.engine == Engine::gpu) throw UsageError("--engine gpu: " + probe.description);
  return {false, cpu + "; no GPU: " + probe.description + ")"};
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

// What a run's outputs depend on: the output settings and the ordered inputs (a fingerprint
// of their paths and labels). --resume requires both unchanged.
nlohmann::ordered_json run_identity(const Options& o, const InputList& inputs) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  auto mix = [&hash](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
    hash = (hash ^ 0xff) * 1099511628211ull;
  };
  for (const InputItem& item : inputs.items) {
    mix(item.rel);
    mix(std::to_string(item.label));
  }
  char fingerprint[17];
  std::snprintf(fingerprint, sizeof fingerprint, "%016llx", static_cast<unsigned long long>(hash));
  return {{"settings", output_settings(o)},
          {"inputs", {{"count", inputs.items.size()}, {"fingerprint", fingerprint}}}};
}

nlohmann::json read_meta(const fs::path& out) {
  std::ifstream in(out / "meta.json");
  if (!in) throw UsageError("--resume: OUT has no meta.json from an earlier run");
  const nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded() || !meta.contains("identity"))
    throw UsageError("--resume: OUT's meta.json is not from imgprep");
  return meta;
}

// Throws UsageError saying what differs.
void check_same_run(const nlohmann::json& meta, const nlohmann::ordered_json& identity) {
  const nlohmann::json& then = meta["identity"];
  const nlohmann::json now = identity;
  if (then["inputs"] != now["inputs"])
    throw UsageError("--resume: the inputs differ from the interrupted run's (" +
                     json_text(now["inputs"]) + " now, " + json_text(then["inputs"]) + " then)");
  for (const auto& [key, value] : now["settings"].items())
    if (!then["settings"].contains(key) || then["settings"][key] != value)
      throw UsageError("--resume: OUT was made with --" + key + " " +
                       json_text(then["settings"].value(key, nlohmann::json())) + ", not " +
                       json_text(value));
}

}  // namespace

int run_command(const Options& options, std::ostream& out, std::ostream& err) {
  std::atomic<bool> stop{false};
  const InterruptGuard interrupts(stop);
  return exit_code_of(err, [&] {
    validate(options);
    const EngineChoice engine = choose_engine(options);
    configure_codecs(options.max_pixels);
    InputList inputs = list_inputs(options.input, options.shard);
    prepare_output_dir(options.output);
    const nlohmann::ordered_json identity = run_identity(options, inputs);
    const int64_t input_count = static_cast<int64_t>(inputs.items.size());

    nlohmann::ordered_json meta = {
        {"imgprep_version", kVersion},
        {"complete", false},
        {"identity", identity},
        {"config", to_json(options)},
        {"engine", engine.line},
    };
    if (options.resume) {
      const nlohmann::json earlier = read_meta(options.output);
      check_same_run(earlier, identity);
      if (earlier.value("complete", false)) {
        out << "imgprep: " << options.output.string() << " is already complete\n";
        return earlier.value("failed", 0) > 0 ? kExitSomeFailed : kExitOk;
      }
    } else {
      AtomicFile::write_file(options.output / "meta.json", json_text(meta, 2) + "\n");
    }
    RunJournal journal(options.output, options.resume);
    // What an interrupted run completed (the journal's state grows as this run records shards).
    const uint64_t resumed_from = journal.state().next_input;
    const int64_t resumed_failed = journal.state().failed;
    inputs.items.erase(inputs.items.begin(),
                       inputs.items.begin() + static_cast<long>(resumed_from));

    const ImageProcessor processor(options);
    std::unique_ptr<OutputSink> sink = make_output_sink(options, processor.spec(), inputs, journal);
    RunStats stats;
    stats.total = static_cast<int64_t>(inputs.items.size());
    const auto start = std::chrono::steady_clock::now();
    {
      ProgressReporter progress(stats, options.quiet);
      EngineRun run{inputs.items, options, processor, *sink, stats, stop};
      if (engine.gpu)
        run_gpu_engine(run, options.device, options.batch);
      else if (options.cpu_engine == CpuEngine::procs)
        run_procs_engine(run);
      else
        run_tbb_engine(run);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int64_t failed = resumed_failed + stats.failed.load();

    if (const int sig = interrupts.signal(); sig != 0) {
      sink->interrupt();
      if (options.format == OutputFormat::npy)
        err << "imgprep: interrupted; " << journal.state().next_input << " of " << input_count
            << " inputs are in complete shards. Run the same command with --resume to continue.\n";
      else
        err << "imgprep: interrupted; the image files written so far are complete and listed in "
            << (options.output / "manifest.jsonl").string() << "\n";
      return 128 + sig;
    }
    const nlohmann::json output = sink->finish();
    if (!inputs.classes.empty())
      AtomicFile::write_file(options.output / "classes.json",
                             json_text(nlohmann::json(inputs.classes), 2) + "\n");
    meta["complete"] = true;
    meta["stopped_early"] = stop.load();  // --max-errors: the inputs after the stop have no row
    meta["output"] = output;
    meta["inputs"] = input_count;
    meta["failed"] = failed;
    meta["skipped"] = inputs.skipped;
    meta["has_labels"] = inputs.has_labels;
    AtomicFile::write_file(options.output / "meta.json", json_text(meta, 2) + "\n");
    journal.remove();
    out << "imgprep: " << engine.line << "\n";
    print_summary(out, options, inputs, stats, seconds, stop.load());
    return failed > 0 || stop.load() ? kExitSomeFailed : kExitOk;
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

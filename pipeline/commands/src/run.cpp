#include "imgprep/commands/run.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include <fstream>

#include "imgprep/commands/dry_run.h"
#include "imgprep/core/engine_run.h"
#include "imgprep/engines/engines.h"
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/core/json_text.h"
#include "imgprep/codecs/opencv_codecs.h"
#include "imgprep/outputs/atomic_file.h"
#include "imgprep/outputs/output_sinks.h"
#include "imgprep/outputs/resume_check.h"
#include "imgprep/outputs/run_journal.h"
#include "interrupts.h"
#include "imgprep/outputs/out_dir.h"
#include "imgprep/commands/progress.h"
#include "imgprep/version.h"

namespace imgprep {
namespace fs = std::filesystem;
namespace {

// Runs step. An output error (a full disk, an I/O error) ends the run, but first the manifest
// lists what is complete, where the disk lets it be written (a second error would only hide
// the first).
template <class Step>
auto keeping_what_is_complete(OutputSink& sink, Step step) {
  try {
    return step();
  } catch (const OutputError&) {
    try {
      sink.interrupt();
    } catch (const std::exception&) {
    }
    throw;
  }
}

struct EngineChoice {
  EngineKind kind = EngineKind::tbb;
  std::string line;  // which engine, in one line
};

// A GPU probe's reason without its explanation in parentheses: the engine line stays short
// (--engine gpu gives the whole reason).
std::string short_reason(const std::string& description) {
  return description.substr(0, description.find(" ("));
}

// --engine auto takes the GPU when this build and machine have a usable one.
EngineChoice choose_engine(const Options& o) {
  const std::string cpu = "engine cpu (" + describe(o.cpu_engine, o).workers;
  if (o.engine == Engine::cpu) return {o.cpu_engine, cpu + ")"};
  const GpuProbe probe = probe_gpu(o.device);
  if (probe.usable) return {EngineKind::gpu, "engine gpu (" + probe.description + ")"};
  if (o.engine == Engine::gpu) throw UsageError("--engine gpu: " + probe.description);
  return {o.cpu_engine, cpu + "; no GPU: " + short_reason(probe.description) + ")"};
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
  std::atomic<bool> stop{false};
  const InterruptGuard interrupts(stop);
  return exit_code_of(err, [&] {
    validate(options);
    const EngineChoice engine = choose_engine(options);
    configure_codecs(options.max_pixels);
    check_out_apart_from_input(options.output, options.input);
    InputList inputs =
        list_inputs(options.input, options.shard, options.output, options.classes);
    if (options.dry_run) return dry_run(options, inputs, engine.line, out);
    // Without OpenCV's codecs such a run would fail image by image: it ends here instead. (A
    // file of such a format under another extension is found out only when it is decoded.)
    if (options.format == OutputFormat::images ||
        std::ranges::any_of(inputs.items, [](const InputItem& i) {
          return opencv_decodes(format_from_extension(i.path));
        }))
      require_opencv_codecs();
    const OutLock lock(options.output);  // creates OUT; held until the run ends
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
    // Only npy shards are journalled (for --resume); image files are complete one by one.
    std::optional<RunJournal> journal;
    if (options.format == OutputFormat::npy)
      journal.emplace(options.output, options.resume,
                      JournalBounds{static_cast<uint64_t>(input_count), options.shard_size});
    // What an interrupted run completed (the journal's state grows as this run records shards).
    const uint64_t resumed_from = journal ? journal->state().next_input : 0;
    const int64_t resumed_failed = journal ? journal->state().failed : 0;
    inputs.items.erase(inputs.items.begin(),
                       inputs.items.begin() + static_cast<long>(resumed_from));

    const ImageProcessor processor(options);
    std::unique_ptr<OutputSink> sink = make_output_sink(options, processor.spec(), inputs,
                                                         journal ? &*journal : nullptr);
    RunStats stats;
    stats.total = static_cast<int64_t>(inputs.items.size());
    const auto start = std::chrono::steady_clock::now();
    {
      ProgressReporter progress(stats, options.quiet);
      EngineRun run{inputs.items, options, processor, *sink, stats, stop};
      keeping_what_is_complete(*sink, [&] { run_engine(engine.kind, run); });
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int64_t failed = resumed_failed + stats.failed.load();

    if (const int sig = interrupts.signal(); sig != 0) {
      sink->interrupt();
      if (options.format == OutputFormat::npy)
        err << "imgprep: interrupted; " << journal->state().next_input << " of " << input_count
            << " inputs are in complete shards. Run the same command with --resume to continue.\n";
      else
        err << "imgprep: interrupted; the image files written so far are complete and listed in "
            << (options.output / "manifest.jsonl").string() << "\n";
      return 128 + sig;
    }
    const nlohmann::json output = keeping_what_is_complete(*sink, [&] { return sink->finish(); });
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
    if (journal) journal->remove();
    if (!options.quiet) {  // --quiet: errors only
      out << "imgprep: " << engine.line << "\n";
      print_summary(out, options, inputs, stats, seconds, stop.load());
    }
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

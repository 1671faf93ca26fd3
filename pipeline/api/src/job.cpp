// plan_job and run_job: a whole job, from the options to OUT's files and the summary.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>

#include "imgprep/codecs/opencv_codecs.h"
#include "imgprep/core/engine_run.h"
#include "imgprep/core/json_text.h"
#include "imgprep/engines/engines.h"
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/imgprep.h"
#include "imgprep/outputs/atomic_file.h"
#include "imgprep/outputs/out_dir.h"
#include "imgprep/outputs/output_sinks.h"
#include "imgprep/outputs/parts.h"
#include "imgprep/outputs/resume_check.h"
#include "imgprep/outputs/run_journal.h"
#include "imgprep/version.h"
#include "job_parts.h"
#include "progress.h"

namespace imgprep {
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

// A GPU probe's reason without its explanation in parentheses: the engine line stays short
// (--engine gpu gives the whole reason).
std::string short_reason(const std::string& description) {
  return description.substr(0, description.find(" ("));
}

void write_meta(const Options& options, const nlohmann::ordered_json& meta) {
  AtomicFile::write_file(options.output / "meta.json", json_text(meta, 2) + "\n");
}

// --decode gpu: how many of the manifest's rows each decoder made, those of the calls it resumed
// included, and how many the GPU's decoder gave back to the CPU. (A field name in a row's strings
// would be escaped: "decoder":"gpu" occurs only as the field.)
nlohmann::json decoder_counts(const std::filesystem::path& manifest) {
  int64_t gpu = 0, cpu = 0, given_back = 0;
  std::ifstream rows(manifest);
  for (std::string row; std::getline(rows, row);) {
    if (row.find("\"decoder\":\"gpu\"") != std::string::npos) ++gpu;
    if (row.find("\"decoder\":\"cpu\"") != std::string::npos) ++cpu;
    if (row.find("\"gpu_fallback\":") != std::string::npos) ++given_back;
  }
  return {{"gpu", gpu}, {"cpu", cpu}, {"gpu_gave_back", given_back}};
}

}  // namespace

EngineChoice choose_engine(const Options& o) {
  const std::string cpu = "engine cpu (" + describe(o.cpu_engine, o).workers;
  if (o.engine == Engine::cpu) return {o.cpu_engine, cpu + ")"};
  const GpuProbe probe = probe_gpu(o.device);
  if (o.decode == DecodeOn::gpu) {
    if (!probe.usable) throw UsageError("--decode gpu: " + probe.description);
    const GpuProbe decoding = probe_gpu_decode(o.device);
    if (!decoding.usable) throw UsageError("--decode gpu: " + decoding.description);
    return {EngineKind::gpu,
            "engine gpu (" + probe.description + "; JPEG decoding: " + decoding.description + ")"};
  }
  if (probe.usable) return {EngineKind::gpu, "engine gpu (" + probe.description + ")"};
  if (o.engine == Engine::gpu) throw UsageError("--engine gpu: " + probe.description);
  return {o.cpu_engine, cpu + "; no GPU: " + short_reason(probe.description) + ")"};
}

void require_codecs_for(const Options& options, const std::vector<InputItem>& inputs) {
  if (writes_images(options.format) ||
      std::ranges::any_of(inputs, [](const InputItem& i) {
        return opencv_decodes(format_from_extension(i.path));
      }))
    require_opencv_codecs();
}

int JobSummary::exit_code() const {
  if (interrupted > 0) return 128 + interrupted;
  return failed_in_all > 0 || stopped_early || interrupted != 0 ? 1 : 0;
}

JobPlan plan_job(const Options& options) {
  validate(options);
  JobPlan plan;
  plan.engine = choose_engine(options);
  configure_codecs(options.max_pixels);
  check_out_apart_from_input(options.output, options.input);
  plan.inputs = list_inputs(options.input, options.slice, options.output, options.classes);
  return plan;
}

JobSummary run_job(const Options& requested, JobStop* external_stop) {
  if (requested.dry_run)
    throw UsageError("--dry-run: a job that writes nothing is planned, not run");
  JobStop own_stop;
  JobStop& stop = external_stop ? *external_stop : own_stop;
  JobPlan plan = plan_job(requested);
  InputList& inputs = plan.inputs;
  // A --shard K/N part writes its own folder in OUT, for `imgprep merge OUT` to join.
  Options options = requested;
  options.output = part_folder(requested.output, requested.slice);
  require_codecs_for(options, inputs.items);
  const OutLock lock(options.output);  // creates OUT; held until the job ends
  const nlohmann::ordered_json identity = run_identity(options, inputs);

  JobSummary summary;
  summary.engine = plan.engine.line;
  summary.inputs = static_cast<int64_t>(inputs.items.size());
  summary.skipped = inputs.skipped;
  summary.warnings = inputs.walk_errors;
  summary.manifest = options.output / "manifest.jsonl";

  nlohmann::ordered_json meta = {
      {"imgprep_version", kVersion},
      {"complete", false},
      {"identity", identity},
      {"config", to_json(options)},
      {"engine", plan.engine.line},
  };
  if (options.slice.count > 1) meta["part"] = part_record(options.slice, inputs);
  if (options.resume) {
    const nlohmann::json earlier = read_meta(options.output);
    check_same_run(earlier, identity);
    if (earlier.value("complete", false)) {
      summary.already_complete = true;
      summary.failed_in_all = earlier.value("failed", int64_t{0});
      summary.output = earlier.value("output", nlohmann::json::object());
      return summary;
    }
  } else {
    write_meta(options, meta);
  }
  // Only shards are journalled (for resume); image files are complete one by one.
  std::optional<RunJournal> journal;
  if (writes_shards(options.format))
    journal.emplace(options.output, options.resume,
                    JournalBounds{static_cast<uint64_t>(summary.inputs), options.shard_size,
                                  writes_tars(options.format)});
  // What an interrupted job completed (the journal's state grows as this one records shards).
  const uint64_t resumed_from = journal ? journal->state().next_input : 0;
  const int64_t resumed_failed = journal ? journal->state().failed : 0;
  inputs.items.erase(inputs.items.begin(),
                     inputs.items.begin() + static_cast<long>(resumed_from));

  const ImageProcessor processor(options);
  std::unique_ptr<OutputSink> sink =
      make_output_sink(options, processor.spec(), inputs, journal ? &*journal : nullptr);
  RunStats stats;
  stats.total = static_cast<int64_t>(inputs.items.size());
  const auto start = std::chrono::steady_clock::now();
  {
    ProgressReporter progress(stats, options.quiet);
    EngineRun run{inputs.items, options, processor, *sink, stats, stop.flag()};
    keeping_what_is_complete(*sink, [&] { run_engine(plan.engine.kind, run); });
  }
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.failed = stats.failed.load();
  summary.processed = stats.done.load() - summary.failed;
  summary.failed_in_all = resumed_failed + summary.failed;
  summary.gpu_decoded = stats.gpu_decoded.load();
  summary.gpu_decode_fallbacks = stats.gpu_decode_fallbacks.load();
  for (int s = 0; s < static_cast<int>(Stage::count); ++s)
    summary.busy_seconds[s] = stats.busy_seconds(static_cast<Stage>(s));

  if (stop.reason() != 0) {
    sink->interrupt();
    summary.interrupted = stop.reason();
    summary.resumable_from = journal ? static_cast<int64_t>(journal->state().next_input) : 0;
    return summary;
  }
  summary.output = keeping_what_is_complete(*sink, [&] { return sink->finish(); });
  if (!inputs.classes.empty())
    AtomicFile::write_file(options.output / "classes.json",
                           json_text(nlohmann::json(inputs.classes), 2) + "\n");
  summary.stopped_early = stop.flag().load();  // max_errors: the inputs after it have no row
  meta["complete"] = true;
  meta["stopped_early"] = summary.stopped_early;
  meta["output"] = summary.output;
  meta["inputs"] = summary.inputs;
  meta["failed"] = summary.failed_in_all;
  meta["skipped"] = inputs.skipped;
  meta["has_labels"] = inputs.has_labels;
  if (options.decode == DecodeOn::gpu) meta["decoders"] = decoder_counts(summary.manifest);
  write_meta(options, meta);
  if (journal) journal->remove();
  return summary;
}

}  // namespace imgprep

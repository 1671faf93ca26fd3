#include "imgprep/pipeline/run.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include <fstream>

#include "imgprep/pipeline/dry_run.h"
#include "imgprep/pipeline/engine_run.h"
#include "imgprep/pipeline/engines.h"
#include "imgprep/pipeline/gpu_engine.h"
#include "imgprep/pipeline/json_text.h"
#include "imgprep/pipeline/opencv_codecs.h"
#include "imgprep/pipeline/run_journal.h"
#include "interrupts.h"
#include "out_dir.h"
#include "imgprep/pipeline/progress.h"
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

// JSON's kinds of value, as a message names them.
const char* kind_of(const nlohmann::json& value) {
  return value.is_number() ? "a number" : value.is_string() ? "a string"
         : value.is_boolean() ? "true or false" : value.is_array() ? "a list"
         : value.is_object() ? "an object" : "null";
}

// Whether `then` (read from a file) has the kinds of value `now` has: numbers of any sort match
// each other, lists match element by element, objects key by key.
bool same_kinds(const nlohmann::json& then, const nlohmann::json& now) {
  if (then.is_number() || now.is_number()) return then.is_number() && now.is_number();
  if (then.type() != now.type()) return false;
  if (now.is_array()) {
    if (then.size() != now.size()) return false;
    for (size_t i = 0; i < now.size(); ++i)
      if (!same_kinds(then[i], now[i])) return false;
  }
  if (now.is_object())
    for (const auto& [key, value] : now.items())
      if (!then.contains(key) || !same_kinds(then[key], value)) return false;
  return true;
}

// OUT/meta.json of the run to resume, with everything check_same_run and the resume read in the
// shape imgprep writes it: a hand-edited or foreign file is refused saying what is wrong, and
// no library exception reaches the user.
nlohmann::json read_meta(const fs::path& out) {
  const fs::path path = out / "meta.json";
  std::ifstream in(path);
  if (!in) throw UsageError("--resume: OUT has no meta.json from an earlier run");
  const nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
  const std::string refused = "--resume: " + path.string() + " ";
  if (meta.is_discarded()) throw UsageError(refused + "is not JSON");
  if (!meta.is_object()) throw UsageError(refused + "is not a JSON object");
  // What this imgprep writes, with any settings and inputs (only the kinds of values matter).
  const nlohmann::json expected = {{"settings", output_settings(Options{})},
                                   {"inputs", {{"count", 0}, {"fingerprint", ""}}}};
  const auto identity = meta.find("identity");
  if (identity == meta.end()) throw UsageError(refused + "has no \"identity\"; is it imgprep's?");
  if (!identity->is_object())
    throw UsageError(refused + "has " + kind_of(*identity) + " for \"identity\", not an object");
  for (const auto& [part, shape] : expected.items())
    for (const auto& [key, value] : shape.items()) {
      const std::string name = "\"identity\".\"" + part + "\".\"" + key + "\"";
      if (!identity->contains(part) || !(*identity)[part].is_object() ||
          !(*identity)[part].contains(key))
        throw UsageError(refused + "has no " + name + " (made by another version of imgprep?)");
      const nlohmann::json& then = (*identity)[part][key];
      if (!same_kinds(then, value))
        throw UsageError(refused + "has " + kind_of(then) + " for " + name + ", where imgprep " +
                         "writes " + (value.is_array() ? "a list of " + std::to_string(value.size()) +
                                                             " numbers"
                                                       : std::string(kind_of(value))) +
                         " (made by another version of imgprep?)");
    }
  if (meta.contains("complete") && !meta["complete"].is_boolean())
    throw UsageError(refused + "has " + kind_of(meta["complete"]) + " for \"complete\", not " +
                     "true or false");
  if (meta.contains("failed") && !meta["failed"].is_number_integer())
    throw UsageError(refused + "has " + kind_of(meta["failed"]) + " for \"failed\", not a " +
                     "whole number");
  return meta;
}

// The command-line flag of a setting of output_settings: its key with dashes.
std::string flag_of(const std::string& key) {
  std::string flag = "--" + key;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

// A setting's value as the command line writes it. The fractional ones (--scale, --mean, --std)
// are floats: the shortest text that reads back as the same float.
std::string flag_value(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>() ? "on" : "off";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    char text[32];
    return {text, std::to_chars(text, text + sizeof text, value.get<float>()).ptr};
  }
  if (!value.is_array()) return json_text(value);
  std::string values;
  for (const nlohmann::json& v : value) {
    if (!values.empty()) values += ',';
    values += flag_value(v);
  }
  return values;
}

// Throws UsageError saying what differs, as the command line says it. meta is as read_meta
// returns it.
void check_same_run(const nlohmann::json& meta, const nlohmann::ordered_json& identity) {
  const nlohmann::json& then = meta["identity"];
  const nlohmann::json now = identity;
  const std::string how = ", or run without --resume to start over";
  for (const auto& [key, value] : now["settings"].items()) {
    const nlohmann::json& was = then["settings"][key];
    if (was == value) continue;
    if (key == "input")
      throw UsageError("--resume: OUT was made from INPUT " + was.get<std::string>() + ", not " +
                       value.get<std::string>() + how);
    // On unless --no-exif turns it off.
    if (key == "exif")
      throw UsageError("--resume: OUT was made " + std::string(was.get<bool>() ? "without " : "with ") +
                       flag_of("no_" + key) + "; " + (was.get<bool>() ? "leave it out" : "add it") + how);
    throw UsageError("--resume: OUT was made with " + flag_of(key) + " " + flag_value(was) +
                     ", not " + flag_value(value) + "; use the same value" + how);
  }
  const nlohmann::json &inputs_then = then["inputs"], &inputs_now = now["inputs"];
  if (inputs_then["count"] != inputs_now["count"])
    throw UsageError("--resume: INPUT now has " + json_text(inputs_now["count"]) +
                     " inputs, the interrupted run had " + json_text(inputs_then["count"]) + how);
  if (inputs_then != inputs_now)
    throw UsageError("--resume: the paths or labels of the inputs differ from the interrupted "
                     "run's (fingerprint " + inputs_now["fingerprint"].get<std::string>() +
                     " now, " + inputs_then["fingerprint"].get<std::string>() + " then)" + how);
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

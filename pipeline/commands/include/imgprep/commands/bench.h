// imgprep bench: the same inputs, with the same preprocessing, through every parallelism tier
// (serial, threads, procs, tbb, gpu, and the decode-only ceiling), each into a null sink, each in
// a child process of its own so that its peak memory is its own. Reports a table on the
// terminal, and optionally JSON and an SVG bar chart.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "imgprep/engines/engines.h"
#include "imgprep/core/options.h"

namespace imgprep {

// A tier: one of the engines (engines.h), or the decode-only ceiling.
struct Tier {
  std::optional<EngineKind> engine;  // none: the ceiling
  bool gpu_decode = false;           // the GPU engine with --decode gpu ("gpu-decode")
  bool ceiling() const { return !engine; }
  bool is(EngineKind kind) const { return engine == kind; }
  bool operator==(const Tier&) const = default;
};
// Every engine, in kAllEngineKinds' order (gpu-decode after gpu), then the ceiling.
std::vector<Tier> all_tiers();

const char* to_string(Tier tier);  // the engine's name, "gpu-decode" or "ceiling"
// A comma-separated list of tier names, or "all"; throws UsageError.
std::vector<Tier> parse_tiers(const std::string& text);

struct BenchOptions {
  std::vector<Tier> tiers = all_tiers();
  int repeat = 5;  // timed runs per tier
  int warmup = 1;  // untimed runs first; the first also checks the tier's output
  bool cold = false;  // drop the inputs from the page cache before every timed run
  std::filesystem::path json;   // also write the results here
  std::filesystem::path chart;  // and an SVG bar chart here
};

// Runs the benchmark and reports to out; returns the exit status (kExitOk, or kExitUsage with
// the reason on err).
int bench_command(const Options& options, const BenchOptions& bench, std::ostream& out,
                  std::ostream& err);

}  // namespace imgprep

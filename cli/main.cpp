// imgprep: image folders to training-ready tensors.
#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>
#include <string>
#include <utility>

#include "imgprep/pipeline/bench.h"
#include "imgprep/pipeline/procs_engine.h"
#include "imgprep/pipeline/run.h"
#include "imgprep/version.h"
#include "run_options.h"

namespace {

// The bench-only options, beside the preprocessing options it shares with run.
struct BenchFlags {
  std::string tiers = "all";
  double io_latency_ms = 0;
  imgprep::BenchOptions options;

  explicit BenchFlags(CLI::App& bench) {
    bench.add_option("--tiers", tiers,
                     "comma-separated: serial, threads, procs, tbb, gpu, ceiling (default all)");
    bench.add_option("--repeat", options.repeat, "timed runs per tier, 1..1000 (default 5)");
    bench.add_option("--warmup", options.warmup,
                     "untimed runs per tier first, 0..1000; the first checks the output "
                     "(default 1)");
    bench.add_option("--json", options.json, "also write the results as JSON to this file");
    bench.add_option("--chart", options.chart, "also write an SVG bar chart to this file");
    bench.add_flag("--cold", options.cold,
                   "drop the inputs from the page cache before every timed run");
    bench.add_option("--io-latency", io_latency_ms,
                     "simulated storage latency added to every file read, 0..60000 ms "
                     "(default 0)");
  }

  // bench_command refuses counts below the ranges; above them, a mistyped count would keep the
  // machine busy for days.
  void check_upper_bounds() const {
    for (const auto& [flag, count] : {std::pair{"--repeat", options.repeat},
                                      std::pair{"--warmup", options.warmup}})
      if (count > kMaxRuns)
        throw imgprep::UsageError(std::string(flag) + " must be at most " +
                                  std::to_string(kMaxRuns) + ", got " + std::to_string(count));
  }

  static constexpr int kMaxRuns = 1000;
};

}  // namespace

int main(int argc, char** argv) {
  // The procs engine's worker processes are this executable with a hidden first argument;
  // they never reach the command line parser (or --help).
  if (argc > 1 && std::strcmp(argv[1], imgprep::kWorkerArgument) == 0)
    return imgprep::run_procs_worker(argc, argv);

  CLI::App app{"imgprep: image folders to training-ready tensors"};
  app.set_version_flag("--version", std::string("imgprep ") + imgprep::kVersion);
  app.require_subcommand(1);
  CLI::App* run = app.add_subcommand("run", "preprocess INPUT into OUT");
  imgprep::RunOptionsParser run_options(*run, imgprep::RunOptionsParser::For::run);
  CLI::App* bench = app.add_subcommand(
      "bench", "measure every parallelism tier on INPUT with the same preprocessing");
  imgprep::RunOptionsParser bench_options(*bench, imgprep::RunOptionsParser::For::bench);
  BenchFlags bench_flags(*bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "imgprep: " << e.what() << " (see imgprep --help)\n";
    return imgprep::kExitUsage;
  }
  try {
    if (run->parsed()) return imgprep::run_command(run_options.resolve(), std::cout, std::cerr);
    if (bench->parsed()) {
      imgprep::Options options = bench_options.resolve();
      options.io_latency_ms = bench_flags.io_latency_ms;
      bench_flags.options.tiers = imgprep::parse_tiers(bench_flags.tiers);
      bench_flags.check_upper_bounds();
      return imgprep::bench_command(options, bench_flags.options, std::cout, std::cerr);
    }
  } catch (const imgprep::UsageError& e) {
    std::cerr << "imgprep: " << e.what() << "\n";
    return imgprep::kExitUsage;
  }
  return imgprep::kExitUsage;
}

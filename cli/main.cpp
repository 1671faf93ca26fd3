// imgprep: image folders to training-ready tensors.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "imgprep/commands/bench.h"
#include "imgprep/commands/merge.h"
#include "imgprep/engines/procs_engine.h"
#include "imgprep/commands/run.h"
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
                     "comma-separated: serial, threads, procs, tbb, gpu, gpu-decode, ceiling (default all)");
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

constexpr const char* kRunExamples = R"(Examples:
  imgprep run photos -o out --preset imagenet
      3x224x224 float32 npy shards, labelled by the first-level folders
  imgprep run photos -o thumbs --format images --resize longer:512 --image-format webp
      resized image files in the same tree
  imgprep run photos -o out --preset clip --dry-run
      what a run would process and write, decoding and writing nothing)";

constexpr const char* kMergeExamples = R"(Example:
  for k in 0 1 2 3; do imgprep run photos -o out --preset imagenet --shard $k/4; done
  imgprep merge out
      out/part-0000K-of-00004 are the parts; out/manifest.jsonl, shards and meta.json the
      dataset, row for row what one run over photos writes)";

constexpr const char* kBenchExamples = R"(Example:
  imgprep bench photos --preset imagenet --tiers tbb,procs --repeat 3)";

// The Levenshtein distance: single-character insertions, deletions and substitutions.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0]++;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row.back();
}

// The option an argument names ("--resize=x": "--resize", "-oOUT": "-o"); empty for values,
// negative numbers among them.
std::string option_name(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return "";
  if (arg[1] == '-') return arg.substr(0, arg.find('='));
  return std::isalpha(static_cast<unsigned char>(arg[1])) ? arg.substr(0, 2) : "";
}

// The option of command closest to name, if it is close enough to be a typo of it: a third of
// its characters at most, so a one-letter option ("-o" for -q) is never a typo of another.
std::string closest_option(const CLI::App& command, const std::string& name) {
  std::string best;
  size_t best_distance = name.size() / 3 + 1;
  for (const CLI::Option* option : command.get_options()) {
    std::vector<std::string> names;
    for (const std::string& l : option->get_lnames()) names.push_back("--" + l);
    for (const std::string& s : option->get_snames()) names.push_back("-" + s);
    for (const std::string& candidate : names)
      if (const size_t d = edit_distance(name, candidate); d < best_distance) {
        best = candidate;
        best_distance = d;
      }
  }
  return best;
}

// Why the command line was refused. An option that the command does not have comes first, with
// the command's closest option when it looks like a typo of it.
std::string parse_error_message(const CLI::App& app, const std::vector<std::string>& args,
                                const CLI::ParseError& error) {
  const std::vector<const CLI::App*> commands = app.get_subcommands({});
  const CLI::App* command = nullptr;
  auto at = args.begin();
  for (; at != args.end() && !command; ++at)
    for (const CLI::App* c : commands)
      if (c->check_name(*at)) command = c;
  if (!command) return std::string(error.what()) + " (see imgprep --help)";
  const std::string see = " (see imgprep " + command->get_name() + " --help)";
  for (auto arg = at; arg != args.end(); ++arg) {
    const std::string name = option_name(*arg);
    if (name.empty() || command->get_option_no_throw(name) != nullptr) continue;
    const std::string closest = closest_option(*command, name);
    return "unknown option " + name + (closest.empty() ? "" : "; did you mean " + closest + "?") +
           see;
  }
  return error.what() + see;
}

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
  imgprep::RunOptionsParser run_options(*run, imgprep::ConfigFor::run);
  run->footer(kRunExamples);
  CLI::App* merge = app.add_subcommand(
      "merge", "join the parts that `imgprep run --shard K/N -o OUT` wrote into one dataset in OUT");
  std::string merge_out;
  bool merge_quiet = false;
  merge->add_option("OUT", merge_out, "the OUT the parts were written to")->required();
  merge->add_flag("-q,--quiet", merge_quiet, "print errors only");
  merge->footer(kMergeExamples);
  CLI::App* bench = app.add_subcommand(
      "bench", "measure every parallelism tier on INPUT with the same preprocessing");
  imgprep::RunOptionsParser bench_options(*bench, imgprep::ConfigFor::bench);
  BenchFlags bench_flags(*bench);
  bench->footer(kBenchExamples);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "imgprep: " << parse_error_message(app, {argv + 1, argv + argc}, e) << "\n";
    return imgprep::kExitUsage;
  }
  try {
    if (run->parsed()) return imgprep::run_command(run_options.resolve(), std::cout, std::cerr);
    if (merge->parsed()) return imgprep::merge_command(merge_out, merge_quiet, std::cout, std::cerr);
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

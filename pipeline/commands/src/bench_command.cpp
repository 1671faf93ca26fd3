#include <fcntl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

#include "bench_report.h"
#include "bench_tier.h"
#include "imgprep/outputs/fd_io.h"
#include "imgprep/outputs/atomic_file.h"
#include "imgprep/commands/bench.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/core/json_text.h"
#include "imgprep/commands/run.h"
#include "imgprep/version.h"
#include "page_cache.h"

namespace imgprep {
namespace {

using json = nlohmann::ordered_json;

std::string read_all(int fd) {
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

json unavailable(Tier tier, const std::string& reason) {
  return {{"tier", to_string(tier)}, {"available", false}, {"reason", reason}};
}

// Measures the tier in a forked child (this process has no threads yet, so forking is safe):
// its peak RSS is then the tier's alone, and a tier that crashes only loses its own record.
json run_tier_process(Tier tier, const Options& options, const BenchOptions& bench,
                      const std::vector<InputItem>& items) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return unavailable(tier, std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return unavailable(tier, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    int status = 0;
    json record;
    try {
      record = measure_tier(tier, options, bench, items);
    } catch (const std::exception& e) {
      record = unavailable(tier, e.what());
      status = 1;
    } catch (...) {  // never unwind into the parent's code: this is the child
      record = unavailable(tier, "unknown exception");
      status = 1;
    }
    // A failed write leaves the parent a short record, which it reports.
    const std::string text = json_text(record);
    write_all(fds[1], text.data(), text.size());
    ::_exit(status);
  }
  ::close(fds[1]);
  const std::string text = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  json record = json::parse(text, nullptr, false);
  if (record.is_discarded() || !record.is_object()) {
    if (WIFSIGNALED(status))
      return unavailable(tier, std::string("the tier's process died: signal ") +
                                   std::to_string(WTERMSIG(status)) + " (" +
                                   strsignal(WTERMSIG(status)) + ")");
    return unavailable(tier, "the tier's process ended without a result");
  }
  if (record.value("available", false)) {
    double rss_kb = static_cast<double>(usage.ru_maxrss);
    // The procs tier's worker processes: each peaked at most at the largest one's peak.
    if (record.contains("worker_peak_rss_kb"))
      rss_kb += options.resolved_workers() * record["worker_peak_rss_kb"].get<double>();
    record["peak_rss_mib"] = rss_kb / 1024.0;
  }
  return record;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  if (n == 0) return 0;
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Throughput per tier, then the ratios that need other tiers: speedup over serial, fraction of
// the ceiling, and whether each checked output equals the reference tier's (tbb, else the
// first checked).
void derive(json& tiers) {
  const auto median_of = [](const json& t) { return t["images_per_s"]["median"].get<double>(); };
  const json* serial = nullptr;
  const json* ceiling = nullptr;
  const json* reference = nullptr;
  for (json& t : tiers) {
    if (!t["available"].get<bool>()) continue;
    const double used = images_in(t);
    std::vector<double> runs;
    for (double s : t["runs_s"]) runs.push_back(s > 0 ? used / s : 0.0);
    const double seconds = median(t["runs_s"].get<std::vector<double>>());
    t["images_per_s"] = {{"median", median(runs)}, {"runs", runs}};
    t["decoded_mb_per_s"] = seconds > 0 ? t["decoded_bytes"].get<double>() / seconds / 1e6 : 0.0;
    if (t["tier"] == "serial") serial = &t;
    if (t["tier"] == "ceiling") ceiling = &t;
    if (t["output"]["checked"].get<bool>() && (!reference || t["tier"] == "tbb")) reference = &t;
  }
  for (json& t : tiers) {
    if (!t["available"].get<bool>()) continue;
    const double rate = median_of(t);
    t["speedup_vs_serial"] = serial && median_of(*serial) > 0 ? json(rate / median_of(*serial)) : json();
    t["fraction_of_ceiling"] =
        ceiling && median_of(*ceiling) > 0 ? json(rate / median_of(*ceiling)) : json();
    json& output = t["output"];
    if (output["checked"].get<bool>() && reference) {
      output["compared_with"] = (*reference)["tier"];
      output["equal"] = output["crc32"] == (*reference)["output"]["crc32"] &&
                        output["ok"] == (*reference)["output"]["ok"];
    }
  }
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

json machine() {
  utsname u{};
  ::uname(&u);
  return {{"cores", std::max(1u, std::thread::hardware_concurrency())},
          {"cpu", cpu_model()},
          {"kernel", std::string(u.sysname) + " " + u.release}};
}

}  // namespace

std::vector<Tier> all_tiers() {
  std::vector<Tier> tiers;
  for (EngineKind kind : kAllEngineKinds) {
    tiers.push_back({kind});
    if (kind == EngineKind::gpu) tiers.push_back({kind, true});
  }
  tiers.push_back({});  // the ceiling
  return tiers;
}

const char* to_string(Tier tier) {
  if (tier.gpu_decode) return "gpu-decode";
  return tier.engine ? to_string(*tier.engine) : "ceiling";
}

std::vector<Tier> parse_tiers(const std::string& text) {
  const std::vector<Tier> all = all_tiers();
  if (text == "all") return all;
  std::vector<Tier> tiers;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma - start);
    const auto found =
        std::find_if(all.begin(), all.end(), [&](Tier t) { return name == to_string(t); });
    if (found == all.end()) {
      std::string names;
      for (Tier t : all) names += std::string(names.empty() ? "" : ", ") + to_string(t);
      throw UsageError("--tiers: unknown tier '" + name + "' (" + names + " or all)");
    }
    if (std::find(tiers.begin(), tiers.end(), *found) == tiers.end()) tiers.push_back(*found);
    if (comma == std::string::npos) return tiers;
    start = comma + 1;
  }
}

int bench_command(const Options& options, const BenchOptions& bench, std::ostream& out,
                  std::ostream& err) {
  return exit_code_of(err, [&] {
    validate(options);
    if (bench.repeat < 1) throw UsageError("--repeat must be at least 1");
    if (bench.warmup < 0) throw UsageError("--warmup must be at least 0");
    if (bench.tiers.empty()) throw UsageError("--tiers: no tier given");
    configure_codecs(options.max_pixels);
    const InputList inputs = list_inputs(options.input, options.slice);
    if (inputs.items.empty()) throw InputError(no_images_in(options.input));  // an empty slice

    nlohmann::json config = to_json(options);
    config.erase("output");
    json report = {{"imgprep_version", kVersion},
                   {"date", utc_now()},
                   {"machine", machine()},
                   {"input", options.input.string()},
                   {"images", inputs.items.size()},
                   {"skipped", inputs.skipped},
                   {"config", config},
                   {"repeat", bench.repeat},
                   {"warmup", bench.warmup},
                   {"io_latency_ms", options.io_latency_ms},
                   {"cold", bench.cold},
                   {"page_cache_resident_at_start", page_cache_resident(inputs.items)},
                   {"tiers", json::array()}};
    if (!options.quiet) print_header(report, out);
    for (Tier tier : bench.tiers) {
      out.flush();
      err.flush();
      report["tiers"].push_back(run_tier_process(tier, options, bench, inputs.items));
      if (!options.quiet) print_progress(report["tiers"].back(), out);
    }
    derive(report["tiers"]);
    print_table(report, out);
    if (!bench.json.empty()) AtomicFile::write_file(bench.json, json_text(report, 2) + "\n");
    if (!bench.chart.empty()) AtomicFile::write_file(bench.chart, bar_chart_svg(report));
    return kExitOk;
  });
}

}  // namespace imgprep

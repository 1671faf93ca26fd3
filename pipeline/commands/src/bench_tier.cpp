#include "bench_tier.h"

#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <stop_token>
#include <thread>

#include "imgprep/core/engine_run.h"
#include "imgprep/engines/engines.h"
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/engines/read_pool.h"
#include "page_cache.h"

namespace imgprep {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kStages = static_cast<int>(Stage::count);

// Drops every output; when checking, keeps a CRC-32 of the outputs in input order (what the
// bench compares between tiers, and what anyone can recompute from `imgprep run`'s files).
// The sink stage counts the images in RunStats.
class NullSink : public OutputSink {
 public:
  explicit NullSink(bool check) : check_(check) {}
  void consume(Job& job) override {
    if (check_ && job.ok()) crc_ = crc32_z(crc_, job.output.data(), job.output.size());
  }
  nlohmann::json finish() override { return {}; }
  void interrupt() override {}

  std::string crc32() const {
    char crc[9];
    std::snprintf(crc, sizeof crc, "%08lx", crc_);
    return crc;
  }

 private:
  bool check_;
  uLong crc_ = crc32_z(0, nullptr, 0);
};

// Samples the run's queue lengths every millisecond, on a thread of its own.
class QueueSampler {
 public:
  explicit QueueSampler(const RunStats& stats)
      : thread_([this, &stats](std::stop_token stop) {
          while (!stop.stop_requested()) {
            for (int s = 0; s < kStages; ++s) sums_[s] += stats.queued[s].load();
            ++samples_;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          }
        }) {}
  // Stops sampling; the average number of jobs waiting for each stage.
  std::array<double, kStages> averages() {
    thread_.request_stop();
    thread_.join();
    std::array<double, kStages> avg{};
    for (int s = 0; s < kStages; ++s) avg[s] = samples_ ? sums_[s] / double(samples_) : 0.0;
    return avg;
  }

 private:
  std::array<double, kStages> sums_{};
  int64_t samples_ = 0;
  std::jthread thread_;
};

// How many threads (or processes) serve each stage, and whether a queue feeds it.
struct StageShape {
  std::array<int, kStages> threads{};
  std::array<bool, kStages> queued{};
  std::string parallelism;  // in words
};

// The stages' threads follow the engine; the words are describe's.
StageShape shape_of(Tier tier, const Options& o) {
  const int io = o.io_threads, cpu = o.resolved_threads(), workers = o.resolved_workers();
  if (tier.ceiling())
    return {{0, cpu, 0, 0}, {false, false, false, false}, std::to_string(cpu) + " threads"};
  const EngineKind kind = *tier.engine;
  const std::string words = describe(kind, o).parallelism;
  switch (kind) {
    case EngineKind::serial: return {{1, 1, 1, 1}, {false, false, false, false}, words};
    case EngineKind::threads:
    case EngineKind::tbb: return {{io, cpu, cpu, 1}, {false, true, false, true}, words};
    case EngineKind::procs: return {{io, workers, workers, 1}, {false, true, false, true}, words};
    case EngineKind::gpu: return {{io, cpu, 1, 1}, {false, true, true, true}, words};
  }
  return {};
}

// The decode-only ceiling: what the engines decode (same decoder, scale and window), from
// files already in memory, on the same threads; nothing else. Only the inputs that fit a
// quarter of the memory (at most 2 GiB) are preloaded, in input order.
class DecodeCeiling {
 public:
  DecodeCeiling(const Options& options, const std::vector<InputItem>& items,
                const ImageProcessor& processor)
      : options_(options), items_(items), processor_(processor) {
    const uint64_t memory = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE));
    const uint64_t budget = std::min<uint64_t>(uint64_t{2} << 30, memory / 4);
    for (const InputItem& item : items) {
      Bytes bytes;
      if (!read_image_file(item.path, {options.max_pixels}, bytes).empty())
        bytes.clear();  // decodes as a failure
      if (!files_.empty() && preloaded_ + bytes.size() > budget) break;
      preloaded_ += bytes.size();
      files_.push_back(std::move(bytes));
    }
  }
  uint64_t preloaded_bytes() const { return preloaded_; }

  void run(RunStats& stats) {
    std::atomic<size_t> next{0};
    std::vector<std::jthread> threads;
    for (int t = 0; t < options_.resolved_threads(); ++t)
      threads.emplace_back([&] {
        Job job;
        Scratch scratch;
        for (size_t i; (i = next.fetch_add(1)) < files_.size();) {
          job.reset(i, &items_[i]);
          job.encoded.swap(files_[i]);
          processor_.decode_and_plan(job, scratch, stats);
          job.encoded.swap(files_[i]);
          // Counted as the sink stage counts (sink_job).
          if (!job.ok()) stats.failed.fetch_add(1);
          stats.done.fetch_add(1);
        }
      });
  }

 private:
  const Options& options_;
  const std::vector<InputItem>& items_;
  const ImageProcessor& processor_;
  std::vector<Bytes> files_;
  uint64_t preloaded_ = 0;
};

// One run of an engine tier into sink; returns its wall seconds. The GPU tier runs on `gpu`,
// made once for every run of the tier.
double timed_run(EngineKind kind, const Options& options, const std::vector<InputItem>& items,
                 const ImageProcessor& processor, GpuEngine* gpu, NullSink& sink,
                 RunStats& stats) {
  std::atomic<bool> stop{false};
  EngineRun run{items, options, processor, sink, stats, stop};
  const auto start = Clock::now();
  run_engine(kind, run, gpu);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The resource whose busy share is highest names the verdict.
nlohmann::ordered_json verdict(Tier tier, const std::array<double, kStages>& busy,
                               const StageShape& shape, double seconds) {
  const auto share = [&](std::initializer_list<Stage> stages, int threads) {
    double sum = 0;
    for (Stage s : stages) sum += busy[static_cast<int>(s)];
    return threads > 0 && seconds > 0 ? sum / (seconds * threads) : 0.0;
  };
  const auto threads = [&](Stage s) { return shape.threads[static_cast<int>(s)]; };
  const int cpu = threads(Stage::decode);
  const bool gpu = tier.is(EngineKind::gpu);
  const double decode = busy[static_cast<int>(Stage::decode)];
  const double transform = busy[static_cast<int>(Stage::transform)];
  struct Candidate {
    const char* name;
    double utilisation;
  };
  const Candidate candidates[] = {
      {"I/O-bound", share({Stage::read}, threads(Stage::read))},
      {gpu || decode >= transform ? "decode-bound" : "transform-bound",
       gpu ? share({Stage::decode}, cpu) : share({Stage::decode, Stage::transform}, cpu)},
      {"GPU-bound", gpu ? share({Stage::transform}, 1) : 0.0},
      {"write-bound", share({Stage::write}, threads(Stage::write))},
  };
  const Candidate* best = &candidates[0];
  for (const Candidate& c : candidates)
    if (c.utilisation > best->utilisation) best = &c;
  return {{"verdict", best->name}, {"utilisation", best->utilisation}};
}

}  // namespace

nlohmann::ordered_json measure_tier(Tier tier, const Options& bench_options,
                                    const BenchOptions& bench,
                                    const std::vector<InputItem>& items) {
  nlohmann::ordered_json result = {{"tier", to_string(tier)}, {"available", true}, {"reason", ""}};
  Options options = bench_options;
  if (tier.gpu_decode) options.decode = DecodeOn::gpu;
  // The GPU tier's context, module and buffers are made here, before any run is timed, and
  // reused by every run.
  std::unique_ptr<GpuEngine> gpu;
  if (tier.is(EngineKind::gpu)) {
    try {
      gpu = std::make_unique<GpuEngine>(options);
      result["device"] = gpu->description();
      if (tier.gpu_decode) {
        const GpuProbe decoding = probe_gpu_decode(options.device);
        if (!decoding.usable) throw GpuError(decoding.description);
        result["jpeg_decoder"] = decoding.description;
      }
    } catch (const GpuError& e) {  // not usable, with the probe's or the allocation's reason
      result["device"] = e.what();
      result["available"] = false;
      result["reason"] = e.what();
      return result;
    }
  }
  const StageShape shape = shape_of(tier, options);
  result["parallelism"] = shape.parallelism;
  const ImageProcessor processor(options);
  std::unique_ptr<DecodeCeiling> ceiling;
  if (tier.ceiling()) ceiling = std::make_unique<DecodeCeiling>(options, items, processor);

  // Returns the run's seconds; stats and sink receive what the run did.
  const auto run_once = [&](NullSink& sink, RunStats& stats) {
    if (!ceiling) return timed_run(*tier.engine, options, items, processor, gpu.get(), sink, stats);
    const auto start = Clock::now();
    ceiling->run(stats);
    return std::chrono::duration<double>(Clock::now() - start).count();
  };

  nlohmann::ordered_json output = {{"checked", false}};
  for (int w = 0; w < bench.warmup; ++w) {
    NullSink sink(w == 0 && !ceiling);
    RunStats stats;
    run_once(sink, stats);
    if (w == 0 && !ceiling)
      output = {{"checked", true},
                {"crc32", sink.crc32()},
                {"ok", stats.done - stats.failed},
                {"failed", stats.failed.load()}};
  }

  std::vector<double> seconds, resident;
  std::array<double, kStages> busy{}, queue{};
  int64_t decoded = 0, ok = 0, failed = 0;
  for (int r = 0; r < bench.repeat; ++r) {
    resident.push_back(bench.cold ? drop_page_cache(items) : page_cache_resident(items));
    NullSink sink(false);
    RunStats stats;
    // Sampled only where a queue feeds a stage: the serial tier and the ceiling have none.
    std::optional<QueueSampler> sampler;
    if (std::ranges::any_of(shape.queued, [](bool q) { return q; })) sampler.emplace(stats);
    seconds.push_back(run_once(sink, stats));
    const std::array<double, kStages> avg =
        sampler ? sampler->averages() : std::array<double, kStages>{};
    for (int s = 0; s < kStages; ++s) {
      busy[s] += stats.busy_seconds(static_cast<Stage>(s)) / bench.repeat;
      queue[s] += avg[s] / bench.repeat;
    }
    decoded = stats.decoded_bytes.load();
    ok = stats.done - stats.failed;
    failed = stats.failed;
  }
  double mean_seconds = 0;
  for (double s : seconds) mean_seconds += s / static_cast<double>(seconds.size());

  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  for (int s = 0; s < kStages; ++s) {
    if (shape.threads[s] == 0) continue;
    stages.push_back({{"stage", tier.is(EngineKind::gpu) && s == static_cast<int>(Stage::transform)
                                    ? "gpu"
                                    : stage_name(static_cast<Stage>(s))},
                      {"threads", shape.threads[s]},
                      {"busy_s", busy[s]},
                      {"utilisation", busy[s] / (mean_seconds * shape.threads[s])},
                      {"avg_queue", shape.queued[s] ? nlohmann::ordered_json(queue[s])
                                                    : nlohmann::ordered_json()}});
  }
  result["runs_s"] = seconds;
  result["ok"] = ok;
  result["failed"] = failed;
  result["decoded_bytes"] = decoded;
  result["page_cache_resident"] = resident;
  result["stages"] = stages;
  result.update(verdict(tier, busy, shape, mean_seconds));
  result["output"] = output;
  if (ceiling) result["preloaded_mib"] = double(ceiling->preloaded_bytes()) / (1 << 20);
  if (tier.is(EngineKind::procs)) {
    rusage children{};
    getrusage(RUSAGE_CHILDREN, &children);
    result["worker_peak_rss_kb"] = children.ru_maxrss;
  }
  return result;
}

}  // namespace imgprep

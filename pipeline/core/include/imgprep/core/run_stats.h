// Counters, per-stage busy time and queue lengths shared by all stages of a run. Thread-safe
// (atomics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace imgprep {

enum class Stage { read, decode, transform, write, count };
const char* stage_name(Stage stage);

struct RunStats {
  std::atomic<int64_t> busy_ns[static_cast<int>(Stage::count)] = {};
  // Jobs waiting to enter each stage (handed over, not yet started); engines without a queue
  // before a stage leave it at 0.
  std::atomic<int> queued[static_cast<int>(Stage::count)] = {};
  std::atomic<int64_t> decoded_bytes{0};  // RGB bytes of the decoded pixels
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> failed{0};
  // --decode gpu: JPEGs the GPU's decoder decoded, and those it was given but refused, failed
  // or skipped, decoded on the CPU instead. Every other image that succeeded, the CPU decoded.
  std::atomic<int64_t> gpu_decoded{0};
  std::atomic<int64_t> gpu_decode_fallbacks{0};
  int64_t total = 0;

  void add(Stage stage, std::chrono::nanoseconds ns) {
    busy_ns[static_cast<int>(stage)].fetch_add(ns.count(), std::memory_order_relaxed);
  }
  double busy_seconds(Stage stage) const {
    return busy_ns[static_cast<int>(stage)].load() * 1e-9;
  }
  void enqueue(Stage stage) { queued[static_cast<int>(stage)].fetch_add(1, std::memory_order_relaxed); }
  void dequeue(Stage stage) { queued[static_cast<int>(stage)].fetch_sub(1, std::memory_order_relaxed); }
};

// Adds the time from construction to destruction to a stage.
class StageTimer {
 public:
  StageTimer(RunStats& stats, Stage stage)
      : stats_(stats), stage_(stage), start_(std::chrono::steady_clock::now()) {}
  ~StageTimer() { stats_.add(stage_, std::chrono::steady_clock::now() - start_); }

 private:
  RunStats& stats_;
  Stage stage_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace imgprep

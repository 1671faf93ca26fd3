// The I/O tier: --io-threads threads that claim inputs in order, read each whole file into a
// job slot and hand it on. Bounded by the job slots: a thread waits for a free slot before it
// claims an input. Each read first waits --io-latency (simulated slow storage), when set.
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "imgprep/pipeline/engine_run.h"
#include "imgprep/pipeline/job.h"

namespace imgprep {

// Reads a whole regular file; returns an error message, empty on success.
std::string read_file(const std::filesystem::path& path, Bytes& out);
// Reads job.item into job.encoded (or sets job.error) after the simulated storage latency of
// options.io_latency_ms; timed as the read stage.
void read_input(const Options& options, RunStats& stats, Job& job);

class ReadPool {
 public:
  ReadPool(EngineRun& run, JobSlots& slots);
  ~ReadPool();

  // emit(job) runs on an I/O thread for each job read (failed reads carry job->error);
  // done() runs once, after the last emit.
  void start(std::function<void(Job*)> emit, std::function<void()> done);
  void join();

 private:
  void work();

  EngineRun& run_;
  JobSlots& slots_;
  std::function<void(Job*)> emit_;
  std::function<void()> done_;
  std::atomic<size_t> next_{0};
  std::atomic<int> running_{0};
  std::vector<std::thread> threads_;
};

}  // namespace imgprep

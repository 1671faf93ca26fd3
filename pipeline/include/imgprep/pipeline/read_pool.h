// The I/O tier: threads that claim inputs in order, read each whole file into a job slot and
// hand it on. Bounded by the job slots: a thread waits for a free slot before it claims an input.
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "imgprep/pipeline/job.h"
#include "imgprep/pipeline/run_stats.h"

namespace imgprep {

// Reads a whole regular file; returns an error message, empty on success.
std::string read_file(const std::filesystem::path& path, Bytes& out);

class ReadPool {
 public:
  ReadPool(const std::vector<InputItem>& items, int threads, JobSlots& slots, RunStats& stats,
           const std::atomic<bool>& stop);
  ~ReadPool();

  // emit(job) runs on an I/O thread for each job read (failed reads carry job->error);
  // done() runs once, after the last emit.
  void start(std::function<void(Job*)> emit, std::function<void()> done);
  void join();

 private:
  void work();

  const std::vector<InputItem>& items_;
  int thread_count_;
  JobSlots& slots_;
  RunStats& stats_;
  const std::atomic<bool>& stop_;
  std::function<void(Job*)> emit_;
  std::function<void()> done_;
  std::atomic<size_t> next_{0};
  std::atomic<int> running_{0};
  std::vector<std::thread> threads_;
};

}  // namespace imgprep

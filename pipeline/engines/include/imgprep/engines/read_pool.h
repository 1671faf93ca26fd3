// The I/O tier: --io-threads threads that claim inputs in order, read each file into a job slot
// and hand it on. Bounded by the job slots: a thread waits for a free slot before it claims an
// input; and by the run's FileBudget: a file's bytes are read once they fit in it. Each read
// first waits --io-latency (simulated slow storage), when set.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "imgprep/core/engine_run.h"
#include "imgprep/core/job.h"

namespace imgprep {

// Reads a whole regular file; returns an error message, empty on success.
std::string read_file(const std::filesystem::path& path, Bytes& out);

struct FileLimits {
  uint64_t max_pixels = 0;  // what the header may announce
  // When budget is set, the file's bytes wait to fit in it and then count in hold until it
  // is released; stop ends the wait.
  FileBudget* budget = nullptr;
  FileBudget::Hold* hold = nullptr;
  const std::atomic<bool>* stop = nullptr;
};
// read_image_file's error when stop was set while it waited for the budget.
inline constexpr const char* kReadStopped = "the run stopped before the file was read";

// Reads an image file of at most 2 GiB like read_file, but the first 64 KiB first: a file that
// is no image format, or whose header announces more than max_pixels, fails without reading
// the rest. Returns an error message, empty on success.
std::string read_image_file(const std::filesystem::path& path, const FileLimits& limits,
                            Bytes& out);
// Reads job.item into job.encoded (or sets job.error) after the simulated storage latency of
// options.io_latency_ms; timed as the read stage. With a budget, job.encoded_hold holds the
// bytes; a job whose wait for the budget is ended by stop is cancelled.
void read_input(const Options& options, RunStats& stats, Job& job, FileBudget* budget = nullptr,
                const std::atomic<bool>* stop = nullptr);

class ReadPool {
 public:
  ReadPool(EngineRun& run, JobSlots& slots);
  ~ReadPool();

  // emit(job) runs on an I/O thread for each job read (failed reads carry job->error);
  // done() runs once, after the last emit. If not every thread can be started, those that
  // were stop the run (run.stop) and join() throws why.
  void start(std::function<void(Job*)> emit, std::function<void()> done);
  void join();

 private:
  void work();
  void join_threads();

  EngineRun& run_;
  JobSlots& slots_;
  std::function<void(Job*)> emit_;
  std::function<void()> done_;
  std::atomic<size_t> next_{0};
  std::atomic<int> running_{0};
  std::vector<std::thread> threads_;
  FileBudget budget_;
  std::exception_ptr error_;  // why a thread could not be started
};

}  // namespace imgprep

// Reports a run's progress on stderr from a thread of its own: a redrawn bar that fits the
// terminal, a plain line every few seconds otherwise, then a line with the totals (done, failed,
// elapsed); nothing with --quiet.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "imgprep/core/run_stats.h"

namespace imgprep {

class ProgressReporter {
 public:
  ProgressReporter(const RunStats& stats, bool quiet);
  ~ProgressReporter();  // stops and prints the totals

 private:
  void loop();
  void report(bool final);

  const RunStats& stats_;
  bool tty_ = false;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace imgprep

// A stage's own thread: jobs pushed to it wait in a bounded queue and reach its handlers in push
// order, on that thread. The first exception raised under attempt() stops the run, and finish()
// rethrows it once the thread has ended. Used by the sink stage and the GPU stage.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <utility>

#include <tbb/concurrent_queue.h>

#include "imgprep/core/engine_run.h"
#include "imgprep/core/job.h"
#include "imgprep/core/run_stats.h"

namespace imgprep {

class StageThread {
 public:
  struct Handlers {
    std::function<void()> start{};    // first, on the thread; may be empty
    std::function<void(Job*)> job{};  // each pushed job, in push order
    std::function<void()> end{};      // after the last job; may be empty
    std::function<void()> failed{};   // right after the first exception is kept; may be empty
  };

  // Starts the thread, so declare a StageThread after everything its handlers use. `stage` is
  // the stage whose queue length the stats count.
  StageThread(EngineRun& run, Stage stage, std::ptrdiff_t capacity, Handlers handlers)
      : run_(run), stage_(stage), handlers_(std::move(handlers)) {
    queue_.set_capacity(capacity);
    thread_ = std::thread([this] { work(); });
  }
  // Ends the thread (the end handler runs) if finish() was not called.
  ~StageThread() {
    if (thread_.joinable()) {
      queue_.push(nullptr);
      thread_.join();
    }
  }
  StageThread(const StageThread&) = delete;
  StageThread& operator=(const StageThread&) = delete;

  void push(Job* job) {  // from one thread at a time
    run_.stats.enqueue(stage_);
    queue_.push(job);
  }

  // Waits until the thread has handled every pushed job and the end; rethrows the first error.
  void finish() {
    queue_.push(nullptr);
    thread_.join();
    if (error_) std::rethrow_exception(error_);
  }

  // On the thread: runs f unless an earlier attempt failed. If f throws, keeps the exception for
  // finish(), sets run.stop and calls the failed handler.
  template <class F>
  void attempt(const F& f) {
    if (error_) return;
    try {
      f();
    } catch (...) {
      error_ = std::current_exception();
      run_.stop = true;
      if (handlers_.failed) handlers_.failed();
    }
  }

 private:
  void work() {
    if (handlers_.start) handlers_.start();
    for (;;) {
      Job* job = nullptr;
      queue_.pop(job);
      if (!job) break;
      run_.stats.dequeue(stage_);
      handlers_.job(job);
    }
    if (handlers_.end) handlers_.end();
  }

  EngineRun& run_;
  const Stage stage_;
  const Handlers handlers_;
  tbb::concurrent_bounded_queue<Job*> queue_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace imgprep

// The sink tier: a thread of its own that writes jobs handed to it in input order, counts them
// and returns their slots, so decoding threads never wait on the disk. Engine-agnostic.
#pragma once

#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include <tbb/concurrent_queue.h>

#include "imgprep/pipeline/image_processor.h"
#include "imgprep/pipeline/job.h"
#include "imgprep/pipeline/output_sink.h"

namespace imgprep {

// What every engine is given for a run.
struct EngineRun {
  const std::vector<InputItem>& items;
  const Options& options;
  const ImageProcessor& processor;
  OutputSink& sink;
  RunStats& stats;
  std::atomic<bool>& stop;  // set to stop reading new inputs (errors, --max-errors)
};

class SinkStage {
 public:
  SinkStage(EngineRun& run, JobSlots& slots);
  ~SinkStage();

  void push(Job* job);  // in input order; from one thread at a time
  // Waits until every pushed job is written; rethrows the first error the sink raised
  // (an OutputError: the run cannot continue).
  void finish();

 private:
  void work();

  EngineRun& run_;
  JobSlots& slots_;
  tbb::concurrent_bounded_queue<Job*> queue_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace imgprep

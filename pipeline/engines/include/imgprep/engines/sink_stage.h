// The sink tier: a thread of its own that writes jobs handed to it in input order, counts them
// and returns their slots, so decoding threads never wait on the disk. Engine-agnostic.
#pragma once

#include "imgprep/core/engine_run.h"
#include "imgprep/core/job.h"
#include "imgprep/engines/stage_thread.h"

namespace imgprep {

// Consumes one job at the sink (which may fail it: its output could not be written) and counts
// it; sets run.stop when --max-errors is exceeded. Throws what the sink throws (OutputError).
void sink_job(EngineRun& run, Job& job);

class SinkStage {
 public:
  SinkStage(EngineRun& run, JobSlots& slots);

  void push(Job* job) { thread_.push(job); }  // in input order; from one thread at a time
  // Waits until every pushed job is written; rethrows the first error the sink raised
  // (an OutputError: the run cannot continue).
  void finish() { thread_.finish(); }

 private:
  EngineRun& run_;
  JobSlots& slots_;
  StageThread thread_;
};

}  // namespace imgprep

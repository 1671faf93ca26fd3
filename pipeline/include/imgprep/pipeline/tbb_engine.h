// The CPU engine: I/O threads feed a TBB flow graph that decodes and transforms on `threads`
// cores; a sequencer restores input order for the sink, so outputs never depend on scheduling.
#pragma once

#include <atomic>
#include <vector>

#include "imgprep/pipeline/image_processor.h"
#include "imgprep/pipeline/output_sink.h"

namespace imgprep {

struct EngineRun {
  const std::vector<InputItem>& items;
  const Options& options;
  const ImageProcessor& processor;
  OutputSink& sink;
  RunStats& stats;
  std::atomic<bool>& stop;  // set to stop reading new inputs (errors, --max-errors)
};

// Consumes one job at the sink and counts it; sets run.stop when --max-errors is exceeded.
void sink_job(EngineRun& run, const Job& job);

// Rethrows the first OutputError raised by the sink, after the graph has drained.
void run_tbb_engine(EngineRun& run);

}  // namespace imgprep

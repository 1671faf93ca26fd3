// What every engine is given for a run: the inputs, the options, the per-image work, the sink,
// the shared counters and the stop flag.
#pragma once

#include <atomic>
#include <vector>

#include "imgprep/datasets/input_list.h"
#include "imgprep/core/image_processor.h"
#include "imgprep/core/options.h"
#include "imgprep/core/output_sink.h"
#include "imgprep/core/run_stats.h"

namespace imgprep {

struct EngineRun {
  const std::vector<InputItem>& items;
  const Options& options;
  const ImageProcessor& processor;
  OutputSink& sink;
  RunStats& stats;
  std::atomic<bool>& stop;  // set to stop reading new inputs (errors, --max-errors)
  // The GPU engine leaves each tensor in device memory (Job::device_output) instead of
  // copying it back; no other engine can.
  bool outputs_on_device = false;
};

}  // namespace imgprep

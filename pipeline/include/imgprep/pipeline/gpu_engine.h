// The GPU engine: I/O threads feed a TBB graph that only decodes (and plans) on the CPU; a GPU
// stage thread packs decoded images into a ring of pinned staging slots, each with its own CUDA
// stream and event, and runs the fused kernel there, so copies both ways and kernels of
// several batches overlap with decoding. Results reach the sink stage in input order.
#pragma once

#include <stdexcept>
#include <string>

#include "imgprep/pipeline/sink_stage.h"

namespace imgprep {

// A CUDA call failed mid-run: the run cannot continue.
struct GpuError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct GpuProbe {
  bool usable = false;
  std::string description;  // the device ("NVIDIA H100 80GB HBM3, device 0"), or why not
};

// Whether `device` can run the GPU engine: built with CUDA, a driver, and such a device.
GpuProbe probe_gpu(int device);

// Throws GpuError (CUDA failures) or OutputError (the sink), after the run has drained.
void run_gpu_engine(EngineRun& run, int device, int batch);

}  // namespace imgprep

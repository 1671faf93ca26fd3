// The GPU engine: I/O threads feed a TBB graph that only decodes (and plans) on the CPU; a GPU
// stage thread gathers the decoded images, in input order, into a ring of pinned staging slots,
// each with its own CUDA stream and event, and runs the fused kernel there, so copies both ways
// and kernels of several batches overlap with decoding. Packing pixels into the pinned slots and
// unpacking tensors (and encoding files, for --format images) run on the CPU tier's threads.
// Results reach the sink stage in input order.
#pragma once

#include <memory>
#include <string>

#include "imgprep/kernels/gpu_error.h"  // GpuError: a CUDA call failed; the run cannot continue
#include "imgprep/core/options.h"
#include "imgprep/engines/sink_stage.h"

namespace imgprep {

struct GpuProbe {
  bool usable = false;
  std::string description;  // the device ("NVIDIA H100 80GB HBM3, device 0"), or why not
};

// Whether `device` can run the GPU engine: built with CUDA, a driver, such a device, a context
// made on it (not busy, exclusive to another process or prohibited), and this build's kernel
// loaded on it (machine code or PTX for its architecture). Leaves `device` current.
GpuProbe probe_gpu(int device);

// Whether --decode gpu can run on `device`: the GPU engine can, and nvJPEG loads and makes its
// decoder there. The description names the library and backend ("nvJPEG 13.0.4 (PATH), hardware
// backend, 7 JPEG engines"), or why not.
GpuProbe probe_gpu_decode(int device);

// The engine's device side, made once and reused by every run: the context, the loaded kernel,
// the ring's streams and events, and its pinned and device buffers (grown to the largest batch
// seen, never shrunk). The constructor does the work a first run would otherwise pay for.
class GpuEngine {
 public:
  explicit GpuEngine(const Options& options);  // options.device and .batch; throws GpuError
  ~GpuEngine();
  GpuEngine(const GpuEngine&) = delete;
  GpuEngine& operator=(const GpuEngine&) = delete;

  // The device, as the probe describes it ("NVIDIA H200, device 0").
  const std::string& description() const { return description_; }

  // One run. Throws GpuError (CUDA failures) or OutputError (the sink), after it has drained.
  void run(EngineRun& run);

 private:
  struct Ring;
  int device_;
  int batch_;
  std::string description_;
  std::unique_ptr<Ring> ring_;
};

// One run on a GpuEngine of its own, on run.options.device with run.options.batch.
void run_gpu_engine(EngineRun& run);

}  // namespace imgprep

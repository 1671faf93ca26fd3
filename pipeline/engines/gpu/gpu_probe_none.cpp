// The GPU engine of a build without the CUDA tier: never usable.
#include "imgprep/engines/gpu_engine.h"

namespace imgprep {

GpuProbe probe_gpu(int) { return {false, "this build has no CUDA tier (built with IMGPREP_CUDA=OFF or without nvcc)"}; }

struct GpuEngine::Ring {};

GpuEngine::GpuEngine(const Options& options) : device_(options.device), batch_(options.batch) {
  throw GpuError(probe_gpu(device_).description);
}
GpuEngine::~GpuEngine() = default;
void GpuEngine::run(EngineRun&) { throw GpuError(probe_gpu(device_).description); }

void run_gpu_engine(EngineRun& run) { GpuEngine(run.options).run(run); }

}  // namespace imgprep

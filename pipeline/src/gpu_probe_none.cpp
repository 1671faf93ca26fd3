// The GPU engine of a build without the CUDA tier: never usable.
#include "imgprep/pipeline/gpu_engine.h"

namespace imgprep {

GpuProbe probe_gpu(int) { return {false, "this build has no CUDA tier (built with IMGPREP_CUDA=OFF or without nvcc)"}; }

struct GpuEngine::Ring {};

GpuEngine::GpuEngine(int device, int batch) : device_(device), batch_(batch) {
  throw GpuError(probe_gpu(device).description);
}
GpuEngine::~GpuEngine() = default;
void GpuEngine::run(EngineRun&) { throw GpuError(probe_gpu(device_).description); }

void run_gpu_engine(EngineRun& run, int device, int batch) { GpuEngine(device, batch).run(run); }

}  // namespace imgprep

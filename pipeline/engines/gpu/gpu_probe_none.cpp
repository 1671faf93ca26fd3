// The GPU engine and device memory of a build without the CUDA tier: never usable.
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/engines/gpu_memory.h"

namespace imgprep {

GpuProbe probe_gpu(int) { return {false, "this build has no CUDA tier (built with IMGPREP_CUDA=OFF or without nvcc)"}; }
GpuProbe probe_gpu_decode(int device) { return probe_gpu(device); }

struct GpuEngine::Ring {};

GpuEngine::GpuEngine(const Options& options) : device_(options.device), batch_(options.batch) {
  throw GpuError(probe_gpu(device_).description);
}
GpuEngine::~GpuEngine() = default;
void GpuEngine::run(EngineRun&) { throw GpuError(probe_gpu(device_).description); }

void run_gpu_engine(EngineRun& run) { GpuEngine(run.options).run(run); }

uint8_t* gpu_allocate(size_t, int device) { throw GpuError(probe_gpu(device).description); }
void gpu_free(uint8_t*, int) noexcept {}
void gpu_wait_idle(int device) { throw GpuError(probe_gpu(device).description); }

struct GpuCopier::Stream {};
GpuCopier::GpuCopier(int device) : device_(device) {
  throw GpuError(probe_gpu(device).description);
}
GpuCopier::~GpuCopier() = default;
void GpuCopier::copy(uint8_t*, const uint8_t*, size_t) {
  throw GpuError(probe_gpu(device_).description);
}

}  // namespace imgprep

// The GPU engine of a build without the CUDA tier: never usable.
#include "imgprep/pipeline/gpu_engine.h"

namespace imgprep {

GpuProbe probe_gpu(int) { return {false, "this build has no CUDA tier (built with IMGPREP_CUDA=OFF or without nvcc)"}; }

void run_gpu_engine(EngineRun&, int, int) { throw GpuError(probe_gpu(0).description); }

}  // namespace imgprep

// The fused kernel: each thread computes the output pixels that resample_batch_thread gives it
// (one per pixel unless the batch outgrows CUDA's grid limits), running the per-pixel function
// the host reference and the CPU engine's arithmetic share (resample_batch.h).
#include <cuda_runtime.h>

#include "imgprep/kernels/resample_batch_cuda.h"

namespace imgprep {
namespace {

__global__ void resample_batch_kernel(BatchView batch, OutputSpec format, LaunchShape shape) {
  resample_batch_thread(batch, format, shape, {blockIdx.x, blockIdx.y, blockIdx.z},
                        {threadIdx.x, threadIdx.y, threadIdx.z});
}

}  // namespace

const char* launch_resample_batch(const BatchView& batch, const OutputSpec& format,
                                  void* stream) {
  if (batch.image_count == 0) return nullptr;
  const LaunchShape shape = resample_launch_shape(batch);
  const dim3 grid(shape.grid.x, shape.grid.y, shape.grid.z);
  const dim3 block(shape.block.x, shape.block.y, shape.block.z);
  resample_batch_kernel<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(batch, format,
                                                                                shape);
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

const char* resample_kernel_unavailable() {
  cudaFuncAttributes attributes{};
  const cudaError_t error = cudaFuncGetAttributes(&attributes, resample_batch_kernel);
  if (error == cudaSuccess) return nullptr;
  cudaGetLastError();  // not sticky: clear it
  return cudaGetErrorString(error);
}

}  // namespace imgprep

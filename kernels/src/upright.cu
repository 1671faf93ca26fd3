// The upright kernel: each thread moves the pixels upright_thread gives it (upright.h).
#include <cuda_runtime.h>

#include "imgprep/kernels/upright.h"

namespace imgprep {
namespace {

__global__ void upright_kernel(UprightView view, LaunchShape shape) {
  upright_thread(view, shape, {blockIdx.x, blockIdx.y, blockIdx.z},
                 {threadIdx.x, threadIdx.y, threadIdx.z});
}

}  // namespace

const char* launch_upright(const UprightView& view, void* stream) {
  if (view.count == 0) return nullptr;
  const LaunchShape shape = upright_launch_shape(view);
  const dim3 grid(shape.grid.x, shape.grid.y, shape.grid.z);
  const dim3 block(shape.block.x, shape.block.y, shape.block.z);
  upright_kernel<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(view, shape);
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace imgprep

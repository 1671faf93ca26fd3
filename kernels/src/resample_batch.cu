// The fused kernel: one thread per output pixel of every image of a batch, running the per-pixel
// function the host reference and the CPU engine's arithmetic share (resample_batch.h).
#include <cuda_runtime.h>

#include "imgprep/kernels/resample_batch_cuda.h"

namespace imgprep {
namespace {

constexpr int kBlockX = 32, kBlockY = 8;

__global__ void resample_batch_kernel(DeviceBatch batch, OutputSpec format) {
  const BatchImage image = batch.images[blockIdx.z];
  const int X = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int Y = static_cast<int>(blockIdx.y * blockDim.y + threadIdx.y);
  if (X >= image.out_w || Y >= image.out_h) return;
  const BatchArrays arrays{batch.images, batch.starts, batch.weights, batch.fixed};
  resample_batch_pixel(image, arrays, format, batch.src, batch.out, X, Y);
}

}  // namespace

const char* launch_resample_batch(const DeviceBatch& batch, const OutputSpec& format,
                                  void* stream) {
  if (batch.image_count == 0) return nullptr;
  const dim3 block(kBlockX, kBlockY);
  const dim3 grid((batch.max_out_w + kBlockX - 1) / kBlockX,
                  (batch.max_out_h + kBlockY - 1) / kBlockY,
                  static_cast<unsigned>(batch.image_count));
  resample_batch_kernel<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(batch, format);
  const cudaError_t error = cudaGetLastError();
  return error == cudaSuccess ? nullptr : cudaGetErrorString(error);
}

}  // namespace imgprep

#include "imgprep/engines/gpu_memory.h"

#include "imgprep/kernels/cuda_resources.h"

namespace imgprep {

using cuda::check;

namespace {

// Calls made for a caller's thread leave its current device as they found it.
class OnDevice {
 public:
  explicit OnDevice(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~OnDevice() { cudaSetDevice(previous_); }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace

uint8_t* gpu_allocate(size_t bytes, int device) {
  OnDevice on(device);
  void* memory = nullptr;
  check(cudaMalloc(&memory, bytes), "allocating a batch on the GPU");
  return static_cast<uint8_t*>(memory);
}

void gpu_free(uint8_t* memory, int device) noexcept {
  try {
    OnDevice on(device);
    cudaFree(memory);
  } catch (const GpuError&) {
  }
}

void gpu_wait_idle(int device) {
  OnDevice on(device);
  check(cudaDeviceSynchronize(), "waiting for the GPU");
}

struct GpuCopier::Stream {
  cuda::Stream stream;
};

GpuCopier::GpuCopier(int device) : device_(device) {
  OnDevice on(device);
  stream_ = std::make_unique<Stream>();
}

GpuCopier::~GpuCopier() = default;

void GpuCopier::copy(uint8_t* to, const uint8_t* from, size_t bytes) {
  OnDevice on(device_);
  check(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, stream_->stream),
        "copy on the GPU");
  check(cudaStreamSynchronize(stream_->stream), "copy on the GPU");
}

}  // namespace imgprep

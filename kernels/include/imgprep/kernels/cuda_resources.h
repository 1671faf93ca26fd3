// The CUDA runtime's objects as RAII types, for CUDA-tier host code (the GPU engine, the GPU stage
// bench): buffers in device and pinned host memory, streams, events, and the check that turns a
// failed call into a GpuError.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "imgprep/kernels/gpu_error.h"

namespace imgprep::cuda {

// Throws GpuError("what: <the runtime's description>") unless error is cudaSuccess.
inline void check(cudaError_t error, std::string_view what) {
  if (error != cudaSuccess)
    throw GpuError(std::string(what) + ": " + cudaGetErrorString(error));
}

struct DeviceMemory {
  static cudaError_t allocate(void** p, size_t n) { return cudaMalloc(p, n); }
  static void release(void* p) { cudaFree(p); }
};
struct PinnedMemory {
  static cudaError_t allocate(void** p, size_t n) { return cudaMallocHost(p, n); }
  static void release(void* p) { cudaFreeHost(p); }
};

template <class Memory>
struct Release {
  void operator()(uint8_t* p) const { Memory::release(p); }
};

// A buffer of fixed size.
template <class Memory>
using Buffer = std::unique_ptr<uint8_t, Release<Memory>>;
using DeviceBuffer = Buffer<DeviceMemory>;
using PinnedBuffer = Buffer<PinnedMemory>;

// `what` names the allocation in the error of a failed one.
template <class Memory>
Buffer<Memory> allocate(size_t bytes, std::string_view what) {
  void* p = nullptr;
  check(Memory::allocate(&p, bytes), what);
  return Buffer<Memory>(static_cast<uint8_t*>(p));
}

// A grow-only buffer: sized by the largest request seen, then reused.
template <class Memory>
class GrowBuffer {
 public:
  uint8_t* reserve(size_t size, std::string_view what) {
    if (size > capacity_) {
      data_.reset();
      const size_t capacity = std::max(size, capacity_ + capacity_ / 2);
      capacity_ = 0;
      data_ = allocate<Memory>(capacity, what);
      capacity_ = capacity;
    }
    return data_.get();
  }
  uint8_t* data() const { return data_.get(); }

 private:
  Buffer<Memory> data_;
  size_t capacity_ = 0;
};
using DeviceGrowBuffer = GrowBuffer<DeviceMemory>;
using PinnedGrowBuffer = GrowBuffer<PinnedMemory>;

// A non-blocking stream: it does not synchronize with the legacy default stream.
class Stream {
 public:
  Stream() { check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  ~Stream() { cudaStreamDestroy(stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  operator cudaStream_t() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  explicit Event(unsigned flags = cudaEventDefault) {  // cudaEventDefault: it can be timed
    check(cudaEventCreateWithFlags(&event_, flags), "cudaEventCreate");
  }
  ~Event() { cudaEventDestroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  operator cudaEvent_t() const { return event_; }

  void record(cudaStream_t stream) { check(cudaEventRecord(event_, stream), "cudaEventRecord"); }

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace imgprep::cuda

// Device memory handed to callers: the batches a training loader gives a framework on the GPU
// (by DLPack). Every call throws GpuError on a failed CUDA call, or in a build without the CUDA
// tier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "imgprep/kernels/gpu_error.h"

namespace imgprep {

// `bytes` of device memory on `device`; gpu_free returns it (errors ignored: it is a release).
uint8_t* gpu_allocate(size_t bytes, int device);
void gpu_free(uint8_t* memory, int device) noexcept;

// Waits until `device` has finished all work queued on it, by anyone in the process: before a
// buffer that a caller has let go of is written again, as the caller's kernels may still be
// reading it.
void gpu_wait_idle(int device);

// Copies between device buffers of one device, each copy complete on return, on a stream of its
// own (it neither waits for nor holds up the engine's streams).
class GpuCopier {
 public:
  explicit GpuCopier(int device);
  ~GpuCopier();
  GpuCopier(const GpuCopier&) = delete;
  GpuCopier& operator=(const GpuCopier&) = delete;

  void copy(uint8_t* to, const uint8_t* from, size_t bytes);

 private:
  struct Stream;
  int device_;
  std::unique_ptr<Stream> stream_;
};

}  // namespace imgprep

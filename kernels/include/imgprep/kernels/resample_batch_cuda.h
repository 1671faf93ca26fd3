// Launching the fused resample + crop + channel order + normalise + layout + dtype kernel on a
// batch that already sits in device memory. No CUDA types here, so host code that only holds
// device pointers needs no CUDA headers. Built only with the CUDA tier (IMGPREP_WITH_CUDA).
#pragma once

#include <cstdint>

#include "imgprep/kernels/resample_batch.h"

namespace imgprep {

// Enqueues the kernel on `stream` (a cudaStream_t) without waiting. Returns the launch error's
// text, or nullptr.
const char* launch_resample_batch(const BatchView& batch, const OutputSpec& format,
                                  void* stream);

// Why the kernel cannot run on the calling thread's current device (no machine code or PTX in
// this build that the device can load, for one), or nullptr when it can. Loads the module.
const char* resample_kernel_unavailable();

}  // namespace imgprep

// The error of a failed CUDA call: what the GPU engine and the GPU stage bench throw. Without
// CUDA headers, so the host side can catch it in any build.
#pragma once

#include <stdexcept>

namespace imgprep {

struct GpuError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace imgprep

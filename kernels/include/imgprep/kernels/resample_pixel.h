// One output pixel of a separable resampling plan, computed directly: the arithmetic (and its
// order) of the CPU engine's horizontal-then-vertical passes, so a kernel that calls this per
// pixel matches the CPU bit for bit. Host and device.
#pragma once

#include "imgprep/kernels/hd.h"
#include "imgprep/kernels/pixel_math.h"

namespace imgprep {

// load(x, y) gives source pixel (x, y) as P. x_first/y_first: the plan's start for this output
// column/row; x_weights/y_weights: its taps. Returns the pixel rounded to 8-bit values.
template <class P, class Load>
IMGPREP_HD inline P resample_pixel(Load load, int x_first, const float* x_weights, int x_taps,
                                   int y_first, const float* y_weights, int y_taps,
                                   bool round_intermediate) {
  auto row = [&](int k) {
    const int y = y_first + k;
    const P h = weighted_sum<P>([&](int j) { return load(x_first + j, y); }, x_weights, x_taps);
    return round_intermediate ? quantize_u8(h) : h;
  };
  return quantize_u8(weighted_sum<P>(row, y_weights, y_taps));
}

}  // namespace imgprep

// One output pixel of a separable resampling plan, computed directly: the arithmetic (and its
// order) of the CPU engine's horizontal-then-vertical passes, so a kernel that calls this per
// pixel matches the CPU bit for bit. Host and device.
#pragma once

#include <cstdint>

#include "imgprep/kernels/hd.h"
#include "imgprep/kernels/pixel_math.h"

namespace imgprep {

// One axis of a plan at one output position: where its taps start and their weights.
struct PlanTaps {
  int first;
  const float* weights;
  int taps;
  const int32_t* fixed;  // Pillow's fixed-point weights, or nullptr (OpenCV arithmetic)
  float tie_eps;
};

// load(x, y) gives source pixel (x, y) as a P of four lanes (P::v[4]). Returns the pixel rounded
// to 8-bit values: Pillow's way when the plan carries fixed-point weights, else half up.
template <class P, class Load>
IMGPREP_HD inline P resample_pixel(Load load, const PlanTaps& x, const PlanTaps& y) {
  auto row = [&](int k) {
    const int sy = y.first + k;
    P h = weighted_sum<P>([&](int j) { return load(x.first + j, sy); }, x.weights, x.taps);
    if (x.fixed)
      for (int c = 0; c < 4; ++c)
        h.v[c] = pillow_quantize(h.v[c], x.tie_eps, [&] {
          int64_t s = 0;
          for (int j = 0; j < x.taps; ++j)
            s += int64_t{x.fixed[j]} * static_cast<int>(load(x.first + j, sy).v[c]);
          return s;
        });
    return h;
  };
  P p = weighted_sum<P>(row, y.weights, y.taps);
  for (int c = 0; c < 4; ++c)
    p.v[c] = y.fixed ? pillow_quantize(p.v[c], y.tie_eps,
                                       [&] {
                                         int64_t s = 0;
                                         for (int k = 0; k < y.taps; ++k)
                                           s += int64_t{y.fixed[k]} *
                                                static_cast<int>(row(k).v[c]);
                                         return s;
                                       })
                     : quantize_u8(p.v[c]);
  return p;
}

}  // namespace imgprep

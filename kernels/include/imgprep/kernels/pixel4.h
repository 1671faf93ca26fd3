// An RGBX pixel as four float lanes, for host and device code alike (CUDA's float4 has no
// arithmetic). Lane-wise IEEE single precision; the overloads below are what the templates in
// pixel_math.h call.
#pragma once

#include <cstdint>

#include "imgprep/kernels/hd.h"
#include "imgprep/kernels/pixel_math.h"

namespace imgprep {

struct Pixel4 {
  float v[4];
};

IMGPREP_HD inline Pixel4 operator+(const Pixel4& a, const Pixel4& b) {
  return {{a.v[0] + b.v[0], a.v[1] + b.v[1], a.v[2] + b.v[2], a.v[3] + b.v[3]}};
}
IMGPREP_HD inline Pixel4 operator*(float w, const Pixel4& a) {
  return {{w * a.v[0], w * a.v[1], w * a.v[2], w * a.v[3]}};
}

// Four RGBX bytes, packed little-endian in a 32-bit word, as floats.
IMGPREP_HD inline Pixel4 unpack_rgbx(uint32_t word) {
  return {{static_cast<float>(word & 0xff), static_cast<float>((word >> 8) & 0xff),
           static_cast<float>((word >> 16) & 0xff), static_cast<float>(word >> 24)}};
}

}  // namespace imgprep

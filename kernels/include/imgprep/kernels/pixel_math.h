// Per-pixel arithmetic shared by the CPU engine and the CUDA kernels. Every executor calls these
// functions in the same order, so results agree bit for bit (builds disable FMA contraction).
#pragma once

#include <cstdint>

#include "imgprep/kernels/hd.h"

namespace imgprep {

// Sum of weights[k] * pixel(k) for k in [0, taps), accumulated left to right.
// P is a scalar or a 4-lane pixel type supporting P + P and W * P (W: the weights' type, a
// float or the same weight in every lane).
template <class P, class Pixel, class W>
IMGPREP_HD inline P weighted_sum(Pixel pixel, const W* weights, int taps) {
  P acc = weights[0] * pixel(0);
  for (int k = 1; k < taps; ++k) acc = acc + weights[k] * pixel(k);
  return acc;
}

IMGPREP_HD inline float clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
IMGPREP_HD inline float truncate(float v) { return static_cast<float>(static_cast<int>(v)); }

// Rounds half up and clamps to [0, 255], as Pillow and OpenCV do when they store 8-bit results.
// T is float or a lane-wise type with its own clamp/truncate overloads (found by ADL).
template <class T>
IMGPREP_HD inline T quantize_u8(T v) {
  return truncate(clamp(v + 0.5f, 0.f, 255.f));
}

// out = (v * scale - mean) / std, per output channel.
// Pillow's 8-bit rounding of a resampled value: clamp(floor(S / 2^22 + 0.5), 0, 255), where S is
// the integer sum of 8-bit pixels times 22-bit fixed-point weights. v, the float sum, is within
// tie_eps of S / 2^22, so it rounds the same way unless v + 0.5 lies that close to an integer;
// only then is exact_sum() (returning S) called. (Beyond [0, 256) both clamp alike.)
template <class ExactSum>
IMGPREP_HD inline float pillow_quantize(float v, float tie_eps, ExactSum exact_sum) {
  const float u = v + 0.5f;
  const float q = truncate(clamp(u, 0.f, 255.f));  // quantize_u8(v)
  const float d = u - q;                           // in [0, 1) unless u was clamped
  const float a = d < 0.5f ? 0.5f - d : d - 0.5f;  // 0.5 exactly when u is an integer
  if (a <= 0.5f - tie_eps || a >= 0.5f + tie_eps) return q;
  const int64_t s = (exact_sum() + (int64_t{1} << 21)) >> 22;
  return static_cast<float>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

struct Normalization {
  float scale[3];
  float mean[3];
  float std[3];
};

// T is float or a lane-wise type (the same channel in every lane).
template <class T>
IMGPREP_HD inline T normalize(T v, float scale, float mean, float std) {
  return (v * scale - mean) / std;
}

IMGPREP_HD inline float normalize(float v, const Normalization& n, int c) {
  return normalize(v, n.scale[c], n.mean[c], n.std[c]);
}

// IEEE binary16 bits of v, rounded to nearest even (as __float2half_rn).
IMGPREP_HD inline uint16_t float_to_half_bits(float v) {
  union {
    float f;
    uint32_t u;
  } in{v};
  const uint32_t x = in.u;
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u)  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {                                              // subnormal or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const int shift = 126 - static_cast<int>(abs >> 23);
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

}  // namespace imgprep

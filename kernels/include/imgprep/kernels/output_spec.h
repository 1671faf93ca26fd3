// The tensor each image becomes (size, channel order, normalisation, layout, dtype) and the
// per-element output functions every executor uses. Plain data; host and device.
#pragma once

#include <cstddef>
#include <cstdint>

#include "imgprep/kernels/hd.h"
#include "imgprep/kernels/pixel_math.h"

namespace imgprep {

enum class Layout { nchw, nhwc };
enum class DType { float32, float16, uint8 };

struct OutputSpec {
  int width = 0, height = 0;
  Layout layout = Layout::nchw;
  DType dtype = DType::float32;
  bool bgr = false;
  Normalization norm{};  // in output channel order
  float pad_value = 0;   // 0..255, before normalisation

  static constexpr int kChannels = 3;
  // This spec for a width x height tensor.
  IMGPREP_HD OutputSpec sized(int w, int h) const {
    OutputSpec spec = *this;
    spec.width = w;
    spec.height = h;
    return spec;
  }
  IMGPREP_HD size_t element_size() const {
    return dtype == DType::float32 ? 4 : dtype == DType::float16 ? 2 : 1;
  }
  IMGPREP_HD size_t bytes() const {
    return static_cast<size_t>(width) * height * kChannels * element_size();
  }
  // The RGBX lane that output channel c comes from.
  IMGPREP_HD int source_lane(int c) const { return bgr ? 2 - c : c; }
  // Element index of channel c of pixel (X, Y).
  IMGPREP_HD uint64_t index(int X, int Y, int c) const {
    const uint64_t pixel = static_cast<uint64_t>(Y) * static_cast<uint64_t>(width) +
                           static_cast<uint64_t>(X);
    return layout == Layout::nchw
               ? static_cast<uint64_t>(c) * static_cast<uint64_t>(width) * height + pixel
               : pixel * kChannels + c;
  }
};

// The stored value of channel c for the 8-bit pixel value q (0..255).
IMGPREP_HD inline float output_float32(const OutputSpec& s, int c, float q) {
  return normalize(q, s.norm, c);
}
IMGPREP_HD inline uint16_t output_float16(const OutputSpec& s, int c, float q) {
  return float_to_half_bits(normalize(q, s.norm, c));
}
IMGPREP_HD inline uint8_t output_uint8(const OutputSpec&, int, float q) {
  return static_cast<uint8_t>(q);
}

// Writes channel c of pixel (X, Y) of the tensor at dst.
IMGPREP_HD inline void store_output(const OutputSpec& s, void* dst, int X, int Y, int c, float q) {
  const uint64_t i = s.index(X, Y, c);
  switch (s.dtype) {
    case DType::float32: static_cast<float*>(dst)[i] = output_float32(s, c, q); break;
    case DType::float16: static_cast<uint16_t*>(dst)[i] = output_float16(s, c, q); break;
    case DType::uint8: static_cast<uint8_t*>(dst)[i] = output_uint8(s, c, q); break;
  }
}

}  // namespace imgprep

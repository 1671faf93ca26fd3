#include "imgprep/pipeline/resampler.h"

#include <cstdint>
#include <cstring>

namespace imgprep {
namespace {

// One RGBX pixel in four float lanes; GCC lowers the arithmetic to SSE.
typedef float v4f __attribute__((vector_size(16)));
typedef uint8_t v4u8 __attribute__((vector_size(4)));

inline v4f load_pixel(const uint8_t* p) {
  v4u8 b;
  std::memcpy(&b, p, 4);
  return __builtin_convertvector(b, v4f);
}

template <DType D>
struct Element;
template <>
struct Element<DType::float32> {
  using type = float;
  static float from(float q, const Normalization& n, int c) { return normalize(q, n, c); }
};
template <>
struct Element<DType::float16> {
  using type = uint16_t;
  static uint16_t from(float q, const Normalization& n, int c) {
    return float_to_half_bits(normalize(q, n, c));
  }
};
template <>
struct Element<DType::uint8> {
  using type = uint8_t;
  static uint8_t from(float q, const Normalization&, int) { return static_cast<uint8_t>(q); }
};

template <DType D, Layout L>
void resample(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
              std::vector<float>& rows, void* dst_bytes) {
  using T = typename Element<D>::type;
  T* dst = static_cast<T*>(dst_bytes);
  const AxisPlan& px = plan.x;
  const AxisPlan& py = plan.y;
  const int W = spec.width, H = spec.height;
  const size_t plane = static_cast<size_t>(W) * H;
  auto store = [&](int X, int Y, int c, float q) {
    const size_t at = L == Layout::nchw ? c * plane + static_cast<size_t>(Y) * W + X
                                        : (static_cast<size_t>(Y) * W + X) * 3 + c;
    dst[at] = Element<D>::from(q, spec.norm, c);
  };
  T pad[3];
  for (int c = 0; c < 3; ++c) pad[c] = Element<D>::from(spec.pad_value, spec.norm, c);
  auto store_pad = [&](int X, int Y) {
    for (int c = 0; c < 3; ++c) {
      const size_t at = L == Layout::nchw ? c * plane + static_cast<size_t>(Y) * W + X
                                          : (static_cast<size_t>(Y) * W + X) * 3 + c;
      dst[at] = pad[c];
    }
  };

  // Horizontal pass over the source rows the vertical pass reads.
  const int y0 = py.first_source(), y1 = py.last_source();
  rows.resize(static_cast<size_t>(y1 - y0) * W * 4);
  v4f* tmp = reinterpret_cast<v4f*>(rows.data());
  const size_t src_stride = static_cast<size_t>(src.width) * 4;
  for (int y = y0; y < y1; ++y) {
    const uint8_t* row = src.pixels.data() + y * src_stride;
    v4f* out = tmp + static_cast<size_t>(y - y0) * W;
    for (int X = 0; X < W; ++X) {
      if (px.is_pad(X)) continue;
      const uint8_t* first = row + static_cast<size_t>(px.start[X]) * 4;
      v4f acc = weighted_sum<v4f>([first](int k) { return load_pixel(first + 4 * k); },
                                  &px.weights[static_cast<size_t>(X) * px.taps], px.taps);
      if (plan.round_intermediate)
        for (int c = 0; c < 3; ++c) acc[c] = quantize_u8(acc[c]);
      out[X] = acc;
    }
  }

  // Vertical pass, quantisation to 8 bits, normalisation and the store in one sweep.
  const int src_c[3] = {spec.bgr ? 2 : 0, 1, spec.bgr ? 0 : 2};
  for (int Y = 0; Y < H; ++Y) {
    if (py.is_pad(Y)) {
      for (int X = 0; X < W; ++X) store_pad(X, Y);
      continue;
    }
    const v4f* first = tmp + static_cast<size_t>(py.start[Y] - y0) * W;
    const float* wy = &py.weights[static_cast<size_t>(Y) * py.taps];
    for (int X = 0; X < W; ++X) {
      if (px.is_pad(X)) {
        store_pad(X, Y);
        continue;
      }
      const v4f acc = weighted_sum<v4f>(
          [first, X, W](int k) { return first[static_cast<size_t>(k) * W + X]; }, wy, py.taps);
      for (int c = 0; c < 3; ++c) store(X, Y, c, quantize_u8(acc[src_c[c]]));
    }
  }
}

template <DType D>
void resample_layout(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
                     std::vector<float>& rows, void* dst) {
  if (spec.layout == Layout::nchw)
    resample<D, Layout::nchw>(src, plan, spec, rows, dst);
  else
    resample<D, Layout::nhwc>(src, plan, spec, rows, dst);
}

}  // namespace

void Resampler::run(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
                    void* dst) {
  switch (spec.dtype) {
    case DType::float32: return resample_layout<DType::float32>(src, plan, spec, rows_, dst);
    case DType::float16: return resample_layout<DType::float16>(src, plan, spec, rows_, dst);
    case DType::uint8: return resample_layout<DType::uint8>(src, plan, spec, rows_, dst);
  }
}

}  // namespace imgprep

#include "imgprep/pipeline/resampler.h"

#include <emmintrin.h>

#include <cstring>

namespace imgprep {

// Four float lanes (one RGBX pixel) on SSE2. The arithmetic is lane-wise IEEE single precision,
// in the order the shared templates in pixel_math.h prescribe.
struct F4 {
  __m128 v;
};
inline F4 operator+(F4 a, F4 b) { return {_mm_add_ps(a.v, b.v)}; }
inline F4 operator+(F4 a, float b) { return {_mm_add_ps(a.v, _mm_set1_ps(b))}; }
inline F4 operator*(F4 a, F4 b) { return {_mm_mul_ps(a.v, b.v)}; }
inline F4 clamp(F4 v, float lo, float hi) {
  return {_mm_max_ps(_mm_min_ps(v.v, _mm_set1_ps(hi)), _mm_set1_ps(lo))};
}
inline F4 truncate(F4 v) { return {_mm_cvtepi32_ps(_mm_cvttps_epi32(v.v))}; }

namespace {

inline F4 load_pixel(const uint8_t* p) {
  int32_t bytes;
  std::memcpy(&bytes, p, 4);
  const __m128i zero = _mm_setzero_si128();
  const __m128i b = _mm_cvtsi32_si128(bytes);
  return {_mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(b, zero), zero))};
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

bool same_values(const OutputSpec& a, const OutputSpec& b) {
  return a.dtype == b.dtype && std::memcmp(&a.norm, &b.norm, sizeof a.norm) == 0;
}

template <DType D>
const typename Element<D>::type* value_table(const OutputSpec& spec, Resampler::Buffers& b) {
  using T = typename Element<D>::type;
  if (b.values.empty() || !same_values(b.values_for, spec)) {
    b.values.resize(3 * 256 * sizeof(T));
    T* table = reinterpret_cast<T*>(b.values.data());
    for (int c = 0; c < 3; ++c)
      for (int q = 0; q < 256; ++q) table[c * 256 + q] = Element<D>::from(float(q), spec.norm, c);
    b.values_for = spec;
  }
  return reinterpret_cast<const T*>(b.values.data());
}

template <DType D, Layout L>
void resample(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
              Resampler::Buffers& b, void* dst_bytes) {
  using T = typename Element<D>::type;
  T* dst = static_cast<T*>(dst_bytes);
  const T* values = value_table<D>(spec, b);
  const AxisPlan& px = plan.x;
  const AxisPlan& py = plan.y;
  const int W = spec.width, H = spec.height;
  const size_t plane = static_cast<size_t>(W) * H;
  const int pad = static_cast<int>(spec.pad_value);
  const int src_c[3] = {spec.bgr ? 2 : 0, 1, spec.bgr ? 0 : 2};
  auto store = [&](int X, int Y, const int* q) {
    const size_t pixel = static_cast<size_t>(Y) * W + X;
    for (int c = 0; c < 3; ++c) {
      const size_t at = L == Layout::nchw ? c * plane + pixel : pixel * 3 + c;
      dst[at] = values[c * 256 + q[c]];
    }
  };
  const int pad_q[3] = {pad, pad, pad};

  // Weights broadcast to four lanes once per image, so the inner loop multiplies lane-wise.
  b.weights_x.resize(px.weights.size() * 4);
  for (size_t i = 0; i < px.weights.size(); ++i)
    for (int l = 0; l < 4; ++l) b.weights_x[i * 4 + l] = px.weights[i];
  const F4* wx = reinterpret_cast<const F4*>(b.weights_x.data());

  // Horizontal pass over the source rows the vertical pass reads.
  const int y0 = py.first_source(), y1 = py.last_source();
  b.rows.resize(static_cast<size_t>(y1 - y0) * W * 4);
  F4* tmp = reinterpret_cast<F4*>(b.rows.data());
  const size_t src_stride = static_cast<size_t>(src.width) * 4;
  const int tx = px.taps;
  for (int y = y0; y < y1; ++y) {
    const uint8_t* row = src.pixels.data() + y * src_stride;
    F4* out = tmp + static_cast<size_t>(y - y0) * W;
    for (int X = 0; X < W; ++X) {
      if (px.is_pad(X)) continue;
      const uint8_t* first = row + static_cast<size_t>(px.start[X]) * 4;
      const F4* w = wx + static_cast<size_t>(X) * tx;
      F4 acc = weighted_sum<F4>([first](int k) { return load_pixel(first + 4 * k); }, w, tx);
      if (plan.round_intermediate) acc = quantize_u8(acc);
      out[X] = acc;
    }
  }

  // Vertical pass, rounding to 8 bits, then the value table and the store.
  const int ty = py.taps;
  b.weights_y.resize(static_cast<size_t>(ty) * 4);
  F4* wy = reinterpret_cast<F4*>(b.weights_y.data());
  for (int Y = 0; Y < H; ++Y) {
    if (py.is_pad(Y)) {
      for (int X = 0; X < W; ++X) store(X, Y, pad_q);
      continue;
    }
    const F4* first = tmp + static_cast<size_t>(py.start[Y] - y0) * W;
    for (int k = 0; k < ty; ++k) wy[k] = {_mm_set1_ps(py.weights[static_cast<size_t>(Y) * ty + k])};
    for (int X = 0; X < W; ++X) {
      if (px.is_pad(X)) {
        store(X, Y, pad_q);
        continue;
      }
      const F4* column = first + X;
      const F4 acc = weighted_sum<F4>(
          [column, W](int k) { return column[static_cast<size_t>(k) * W]; }, wy, ty);
      alignas(16) int32_t q4[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(q4), _mm_cvttps_epi32(quantize_u8(acc).v));
      const int q[3] = {q4[src_c[0]], q4[src_c[1]], q4[src_c[2]]};
      store(X, Y, q);
    }
  }
}

template <DType D>
void resample_layout(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
                     Resampler::Buffers& b, void* dst) {
  if (spec.layout == Layout::nchw)
    resample<D, Layout::nchw>(src, plan, spec, b, dst);
  else
    resample<D, Layout::nhwc>(src, plan, spec, b, dst);
}

}  // namespace

void Resampler::run(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
                    void* dst) {
  switch (spec.dtype) {
    case DType::float32: return resample_layout<DType::float32>(src, plan, spec, buffers_, dst);
    case DType::float16: return resample_layout<DType::float16>(src, plan, spec, buffers_, dst);
    case DType::uint8: return resample_layout<DType::uint8>(src, plan, spec, buffers_, dst);
  }
}

}  // namespace imgprep

#include "imgprep/pipeline/resampler.h"

#include <emmintrin.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cstring>

namespace imgprep {

// Four float lanes on SSE2: one RGBX pixel, or one channel of four pixels. The arithmetic is
// lane-wise IEEE single precision, in the order the shared templates in pixel_math.h prescribe.
struct F4 {
  __m128 v;
};
inline F4 operator+(F4 a, F4 b) { return {_mm_add_ps(a.v, b.v)}; }
inline F4 operator+(F4 a, float b) { return {_mm_add_ps(a.v, _mm_set1_ps(b))}; }
inline F4 operator-(F4 a, float b) { return {_mm_sub_ps(a.v, _mm_set1_ps(b))}; }
inline F4 operator*(F4 a, F4 b) { return {_mm_mul_ps(a.v, b.v)}; }
inline F4 operator*(F4 a, float b) { return {_mm_mul_ps(a.v, _mm_set1_ps(b))}; }
inline F4 operator/(F4 a, float b) { return {_mm_div_ps(a.v, _mm_set1_ps(b))}; }
inline F4 clamp(F4 v, float lo, float hi) {
  return {_mm_max_ps(_mm_min_ps(v.v, _mm_set1_ps(hi)), _mm_set1_ps(lo))};
}
inline F4 truncate(F4 v) { return {_mm_cvtepi32_ps(_mm_cvttps_epi32(v.v))}; }

namespace {

using Buffers = Resampler::Buffers;

inline F4 load_pixel(const uint8_t* p) {
  int32_t bytes;
  std::memcpy(&bytes, p, 4);
  const __m128i zero = _mm_setzero_si128();
  const __m128i b = _mm_cvtsi32_si128(bytes);
  return {_mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(b, zero), zero))};
}

// Pillow's rounding (pillow_quantize), four lanes at a time: q gets the lane-wise half-up
// rounding; returns true when a colour lane lies within tie_eps of a rounding boundary, where
// only the exact fixed-point sum decides (pillow_exact4).
struct TieBand {
  explicit TieBand(float tie_eps)
      : half(_mm_set1_ps(0.5f)), top(_mm_set1_ps(255.f)), sign(_mm_set1_ps(-0.f)),
        lo(_mm_set1_ps(0.5f - tie_eps)), hi(_mm_set1_ps(0.5f + tie_eps)) {}
  __m128 half, top, sign, lo, hi;
};

// quantize_u8 (u = v + 0.5, clamped, truncated) with the tie test on u's distance to an integer.
inline bool pillow_round4(F4 v, const TieBand& band, F4& q) {
  const __m128 u = _mm_add_ps(v.v, band.half);
  q = {_mm_cvtepi32_ps(_mm_cvttps_epi32(_mm_max_ps(_mm_min_ps(u, band.top), _mm_setzero_ps())))};
  const __m128 a = _mm_andnot_ps(band.sign, _mm_sub_ps(_mm_sub_ps(u, q.v), band.half));
  const __m128 near = _mm_and_ps(_mm_cmpgt_ps(a, band.lo), _mm_cmplt_ps(a, band.hi));
  return (_mm_movemask_ps(near) & 7) != 0;
}

// The rare case: every lane through pillow_quantize, with the exact fixed-point sum over the
// taps (pixels[k * stride], 8-bit values held as floats). Kept out of the loops above it.
[[gnu::noinline]] F4 pillow_exact4(F4 v, float tie_eps, const int32_t* fixed, int taps,
                                   const F4* pixels, size_t stride) {
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, v.v);
  for (int c = 0; c < 4; ++c)
    lanes[c] = pillow_quantize(lanes[c], tie_eps, [&] {
      int64_t s = 0;
      for (int k = 0; k < taps; ++k)
        s += int64_t{fixed[k]} * static_cast<int>(reinterpret_cast<const float*>(pixels + k * stride)[c]);
      return s;
    });
  return {_mm_load_ps(lanes)};
}

// Calls body(std::integral_constant<int, taps>) for small tap counts so the weighted sums
// unroll, and body(taps) otherwise.
template <class Body>
void with_taps(int taps, Body body) {
  switch (taps) {
    case 1: return body(std::integral_constant<int, 1>());
    case 2: return body(std::integral_constant<int, 2>());
    case 3: return body(std::integral_constant<int, 3>());
    case 4: return body(std::integral_constant<int, 4>());
    case 5: return body(std::integral_constant<int, 5>());
    case 6: return body(std::integral_constant<int, 6>());
    case 7: return body(std::integral_constant<int, 7>());
    case 8: return body(std::integral_constant<int, 8>());
    default: return body(taps);
  }
}

// The loops take everything as plain values: stores through F4 (an __m128, which may alias
// anything) would otherwise make the compiler reload every captured variable per pixel.

// One source row (converted to floats) into W horizontally resampled pixels.
template <class Taps>
void resample_row(const F4* row, const int* starts, const F4* wx, Taps taps, int W, bool pillow,
                  const int32_t* fixed, float eps, int* tie_list, F4* out) {
  const TieBand band(eps);
  int ties = 0;
  for (int X = 0; X < W; ++X) {
    if (starts[X] < 0) continue;
    const F4* first = row + starts[X];
    const F4 acc = weighted_sum<F4>([first](int k) { return first[k]; }, wx + X * taps, taps);
    if (!pillow) {
      out[X] = acc;
      continue;
    }
    F4 q;
    const bool tie = pillow_round4(acc, band, q);
    out[X] = q;
    tie_list[ties] = X;
    ties += tie;
  }
  for (int i = 0; i < ties; ++i) {
    const int X = tie_list[i];
    const F4* first = row + starts[X];
    const F4 acc = weighted_sum<F4>([first](int k) { return first[k]; }, wx + X * taps, taps);
    out[X] = pillow_exact4(acc, eps, fixed + static_cast<size_t>(X) * taps, taps, first, 1);
  }
}

// W output pixels from `taps` horizontally resampled rows (first, first + W, ...).
template <class Taps>
void resample_column(const F4* first, const int* x_starts, const F4* wy, Taps taps, int W,
                     bool pillow, const int32_t* fixed, float eps, int* tie_list, F4* out) {
  auto sum = [first, wy, taps, W](int X) {
    const F4* column = first + X;
    return weighted_sum<F4>([column, W](int k) { return column[static_cast<size_t>(k) * W]; },
                            wy, taps);
  };
  const TieBand band(eps);
  int ties = 0;
  for (int X = 0; X < W; ++X) {
    if (x_starts[X] < 0) continue;
    if (!pillow) {
      out[X] = quantize_u8(sum(X));
      continue;
    }
    F4 q;
    const bool tie = pillow_round4(sum(X), band, q);
    out[X] = q;
    tie_list[ties] = X;
    ties += tie;
  }
  for (int i = 0; i < ties; ++i) {
    const int X = tie_list[i];
    out[X] = pillow_exact4(sum(X), eps, fixed, taps, first + X, static_cast<size_t>(W));
  }
}

// Horizontal pass: rows [y0, y1) of src into b.rows (W float RGBX pixels a row).
void horizontal_pass(const DecodedImage& src, const ResizePlan& plan, int W, int y0, int y1,
                     Buffers& b) {
  const AxisPlan& px = plan.x;
  b.weights_x.resize(px.weights.size() * 4);
  for (size_t i = 0; i < px.weights.size(); ++i)
    for (int l = 0; l < 4; ++l) b.weights_x[i * 4 + l] = px.weights[i];
  const int x0 = px.first_source(), x1 = px.last_source();
  b.row.resize(static_cast<size_t>(src.width) * 4);
  b.rows.resize(static_cast<size_t>(y1 - y0) * W * 4);
  b.ties.resize(static_cast<size_t>(W));
  F4* row = reinterpret_cast<F4*>(b.row.data());
  F4* tmp = reinterpret_cast<F4*>(b.rows.data());
  const F4* wx = reinterpret_cast<const F4*>(b.weights_x.data());
  with_taps(px.taps, [&](auto taps) {
    for (int y = y0; y < y1; ++y) {
      const uint8_t* pixels = src.pixels.data() + static_cast<size_t>(y) * src.width * 4;
      for (int x = x0; x < x1; ++x) row[x] = load_pixel(pixels + 4 * x);
      resample_row(row, px.start.data(), wx, taps, W, plan.pillow_rounding, px.fixed.data(),
                   px.tie_eps, b.ties.data(), tmp + static_cast<size_t>(y - y0) * W);
    }
  });
}

// Vertical pass for output row Y: out[X] = the 8-bit-rounded pixel, or nothing for pad columns.
void vertical_pass(const ResizePlan& plan, int W, int Y, int y0, Buffers& b, F4* out) {
  const AxisPlan& py = plan.y;
  const size_t at = static_cast<size_t>(Y) * py.taps;
  const F4* first = reinterpret_cast<const F4*>(b.rows.data()) +
                    static_cast<size_t>(py.start[Y] - y0) * W;
  b.weights_y.resize(static_cast<size_t>(py.taps) * 4);
  F4* wy = reinterpret_cast<F4*>(b.weights_y.data());
  for (int k = 0; k < py.taps; ++k) wy[k] = {_mm_set1_ps(py.weights[at + k])};
  const int32_t* fixed = plan.pillow_rounding ? py.fixed.data() + at : nullptr;
  with_taps(py.taps, [&](auto taps) {
    resample_column(first, plan.x.start.data(), wy, taps, W, plan.pillow_rounding, fixed,
                    py.tie_eps, b.ties.data(), out);
  });
}

template <class T>
const T* value_table(const OutputSpec& spec, Buffers& b) {
  const bool same = !b.values.empty() && b.values_for.dtype == spec.dtype &&
                    std::memcmp(&b.values_for.norm, &spec.norm, sizeof spec.norm) == 0;
  if (!same) {
    b.values.resize(3 * 256 * sizeof(T));
    T* table = reinterpret_cast<T*>(b.values.data());
    for (int c = 0; c < 3; ++c)
      for (int q = 0; q < 256; ++q) {
        const float v = static_cast<float>(q);
        if constexpr (std::is_same_v<T, float>) table[c * 256 + q] = output_float32(spec, c, v);
        if constexpr (std::is_same_v<T, uint16_t>) table[c * 256 + q] = output_float16(spec, c, v);
        if constexpr (std::is_same_v<T, uint8_t>) table[c * 256 + q] = output_uint8(spec, c, v);
      }
    b.values_for = spec;
  }
  return reinterpret_cast<const T*>(b.values.data());
}

// Stores output pixels [X0, width) of row Y through the per-channel value table (any dtype
// and layout).
template <class T>
void store_row_by_table(const OutputSpec& spec, const AxisPlan& px, int Y, const F4* pixels,
                        bool pad_row, Buffers& b, T* dst, int X0 = 0) {
  const T* values = value_table<T>(spec, b);
  const int pad = static_cast<int>(spec.pad_value);
  for (int X = X0; X < spec.width; ++X) {
    int q[3] = {pad, pad, pad};
    if (!pad_row && !px.is_pad(X)) {
      alignas(16) int32_t lanes[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(lanes), _mm_cvttps_epi32(pixels[X].v));
      for (int c = 0; c < 3; ++c) q[c] = lanes[spec.source_lane(c)];
    }
    for (int c = 0; c < 3; ++c) dst[spec.index(X, Y, c)] = values[c * 256 + q[c]];
  }
}

// float32 NCHW, four pixels at a time: transpose to channel vectors, normalise, store.
void store_row_f32_nchw(const OutputSpec& spec, const AxisPlan& px, int Y, const F4* pixels,
                        bool pad_row, Buffers& b, float* dst) {
  const int W = spec.width;
  int X = 0;
  if (!pad_row) {
    for (; X + 4 <= W; X += 4) {
      if (px.is_pad(X) || px.is_pad(X + 1) || px.is_pad(X + 2) || px.is_pad(X + 3)) break;
      __m128 ch[4] = {pixels[X].v, pixels[X + 1].v, pixels[X + 2].v, pixels[X + 3].v};
      _MM_TRANSPOSE4_PS(ch[0], ch[1], ch[2], ch[3]);
      for (int c = 0; c < 3; ++c) {
        const F4 v = normalize(F4{ch[spec.source_lane(c)]}, spec.norm.scale[c],
                               spec.norm.mean[c], spec.norm.std[c]);
        _mm_storeu_ps(dst + spec.index(X, Y, c), v.v);
      }
    }
  }
  // The rest (and rows or columns with padding) through the table, one pixel at a time.
  if (X < W) store_row_by_table(spec, px, Y, pixels, pad_row, b, dst, X);
}

}  // namespace

void Resampler::run(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
                    void* dst) {
  const int W = spec.width, H = spec.height;
  const AxisPlan& py = plan.y;
  // Horizontally resampled rows are kept for a window of at most kWindowBytes (but at least one
  // output row's taps), so an extreme vertical downscale cannot ask for gigabytes. Ordinary
  // images fit in one window. The plan's row starts never decrease.
  constexpr size_t kWindowBytes = size_t{64} << 20;
  const int window = std::max<int>(
      py.taps, static_cast<int>(kWindowBytes / (std::max(W, 1) * sizeof(F4))));
  const int last_row = py.last_source();
  int y0 = 0, y1 = 0;  // the rows in buffers_.rows
  buffers_.out_row.resize(static_cast<size_t>(W) * 4);
  F4* row = reinterpret_cast<F4*>(buffers_.out_row.data());
  for (int Y = 0; Y < H; ++Y) {
    const bool pad_row = py.is_pad(Y);
    if (!pad_row) {
      const int first = py.start[Y];
      if (first < y0 || first + py.taps > y1) {
        y0 = first;
        y1 = std::min(last_row, first + window);
        horizontal_pass(src, plan, W, y0, y1, buffers_);
      }
      vertical_pass(plan, W, Y, y0, buffers_, row);
    }
    switch (spec.dtype) {
      case DType::float32:
        if (spec.layout == Layout::nchw)
          store_row_f32_nchw(spec, plan.x, Y, row, pad_row, buffers_, static_cast<float*>(dst));
        else
          store_row_by_table(spec, plan.x, Y, row, pad_row, buffers_, static_cast<float*>(dst));
        break;
      case DType::float16:
        store_row_by_table(spec, plan.x, Y, row, pad_row, buffers_, static_cast<uint16_t*>(dst));
        break;
      case DType::uint8:
        store_row_by_table(spec, plan.x, Y, row, pad_row, buffers_, static_cast<uint8_t*>(dst));
        break;
    }
  }
}

}  // namespace imgprep

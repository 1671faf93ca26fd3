#include "imgprep/core/resampler.h"

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

// Builds target baseline x86-64: the AVX2 functions are compiled for it one by one and called
// only where the CPU has it (has_avx2()).
#define IMGPREP_AVX2 [[gnu::target("avx2")]]

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

// IMGPREP_NO_AVX2 (set, non-empty) takes the SSE2 path on any CPU: both paths must give the
// same bytes, and the tests check that on CPUs that have AVX2.
bool has_avx2() {
  static const bool yes = [] {
    const char* off = std::getenv("IMGPREP_NO_AVX2");
    return __builtin_cpu_supports("avx2") && !(off && *off);
  }();
  return yes;
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

// ---- The float path (SSE2): every plan, on every CPU ----

inline F4 load_pixel(const uint8_t* p) {
  int32_t bytes;
  std::memcpy(&bytes, p, 4);
  const __m128i zero = _mm_setzero_si128();
  const __m128i b = _mm_cvtsi32_si128(bytes);
  return {_mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(b, zero), zero))};
}

// A pixel of 8-bit values held as floats, as its four bytes.
inline void store_pixel(F4 q, uint8_t* p) {
  const __m128i words = _mm_packs_epi32(_mm_cvttps_epi32(q.v), _mm_setzero_si128());
  const int32_t bytes = _mm_cvtsi128_si32(_mm_packus_epi16(words, words));
  std::memcpy(p, &bytes, 4);
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

// W output pixels (RGBX bytes) from `taps` horizontally resampled rows (first, first + W, ...).
template <class Taps>
void resample_column(const F4* first, const int* x_starts, const F4* wy, Taps taps, int W,
                     bool pillow, const int32_t* fixed, float eps, int* tie_list, uint8_t* out) {
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
      store_pixel(quantize_u8(sum(X)), out + 4 * X);
      continue;
    }
    F4 q;
    const bool tie = pillow_round4(sum(X), band, q);
    store_pixel(q, out + 4 * X);
    tie_list[ties] = X;
    ties += tie;
  }
  for (int i = 0; i < ties; ++i) {
    const int X = tie_list[i];
    store_pixel(pillow_exact4(sum(X), eps, fixed, taps, first + X, static_cast<size_t>(W)),
                out + 4 * X);
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

// Vertical pass for output row Y: out gets the 8-bit-rounded pixels, nothing for pad columns.
void vertical_pass(const ResizePlan& plan, int W, int Y, int y0, Buffers& b, uint8_t* out) {
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

// ---- The integer path (AVX2): Pillow's rounding, exactly as Pillow computes it ----
// Each pass of ImagingResample (8-bit images) does ss = 2^21 + sum of pixel * fixed weight in
// 32-bit integers, then stores clip8(ss >> 22). The same integer sums, eight int32 lanes at a
// time, give pillow_quantize's results by construction, so no tie test is needed.

constexpr int kPrecisionBits = 22;  // Pillow's PRECISION_BITS: plan.fixed is weight * 2^22
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Pillow's sums fit in int32, and so do the integer path's partial sums, as long as
// 2^21 + 255 * sum |fixed| < 2^31 for every output position (Pillow's filters stay near 2^30).
bool sums_fit_int32(const AxisPlan& axis) {
  for (size_t at = 0; at < axis.fixed.size(); at += axis.taps) {
    int64_t magnitude = 0;
    for (int k = 0; k < axis.taps; ++k) magnitude += std::abs(int64_t{axis.fixed[at + k]});
    if (kHalf + 255 * magnitude >= (int64_t{1} << 31)) return false;
  }
  return true;
}

// plan.x as pillow_row reads it, over `stride` columns: each fixed-point weight repeated in
// four lanes (one per channel). Pad columns and those past the output read source pixel 0 with
// zero weights; their results are never stored.
void expand_fixed_x(const AxisPlan& px, int stride, Buffers& b) {
  const int taps = px.taps;
  b.starts_x.assign(static_cast<size_t>(stride), 0);
  b.fixed_x.assign(static_cast<size_t>(stride) * taps * 4, 0);
  for (int X = 0; X < px.size(); ++X) {
    if (px.is_pad(X)) continue;
    b.starts_x[X] = px.start[X];
    for (int k = 0; k < taps; ++k) {
      const size_t at = static_cast<size_t>(X) * taps + k;
      std::fill_n(b.fixed_x.begin() + at * 4, 4, px.fixed[at]);
    }
  }
}

// Two neighbouring RGBX pixels (8 bytes) as eight int32 lanes.
IMGPREP_AVX2 inline __m256i widen2(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// One output pixel's horizontal sum without Pillow's 2^21, its taps in pairs so that one load
// covers two neighbouring source pixels: tap 2j in the low half of `pairs`, tap 2j + 1 in the
// high half; an odd last tap in `last`.
struct RowSum {
  __m256i pairs;
  __m128i last;
};

template <class Taps>
IMGPREP_AVX2 inline RowSum row_sum(const uint8_t* pixels, const int32_t* fixed4, Taps taps) {
  RowSum s{_mm256_setzero_si256(), _mm_setzero_si128()};
  int k = 0;
  for (; k + 2 <= taps; k += 2) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(fixed4 + 4 * k));
    s.pairs = _mm256_add_epi32(s.pairs, _mm256_mullo_epi32(widen2(pixels + 4 * k), w));
  }
  if (k < taps) {
    const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(fixed4 + 4 * k));
    s.last = _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_loadu_si32(pixels + 4 * k)), w);
  }
  return s;
}

// Pillow's ss of two pixels, [x | y]: the halves of `pairs` added up, `last` and 2^21 added.
template <class Taps>
IMGPREP_AVX2 inline __m256i row_ss(const RowSum& x, const RowSum& y, Taps taps) {
  const __m256i pairs = _mm256_add_epi32(_mm256_permute2x128_si256(x.pairs, y.pairs, 0x20),
                                         _mm256_permute2x128_si256(x.pairs, y.pairs, 0x31));
  const __m256i ss = _mm256_add_epi32(pairs, _mm256_set1_epi32(kHalf));
  if (taps % 2 == 0) return ss;
  return _mm256_add_epi32(ss, _mm256_inserti128_si256(_mm256_castsi128_si256(x.last), y.last, 1));
}

// Pillow's clip8(ss >> 22) of four pixels' ss ([a | c] and [b | d]), as 16 bytes in pixel order.
// The saturating packs (int32 to int16, then int16 to uint8) are the clamp to [0, 255].
IMGPREP_AVX2 inline __m128i clip8_row4(__m256i ac, __m256i bd) {
  const __m256i words = _mm256_packs_epi32(_mm256_srai_epi32(ac, kPrecisionBits),
                                           _mm256_srai_epi32(bd, kPrecisionBits));  // [a b | c d]
  return _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
}

// clip8(ss >> 22) of eight pixels' column sums (two pixels a vector), as 32 bytes in pixel order.
IMGPREP_AVX2 inline __m256i clip8_column8(const __m256i (&s)[4]) {
  const __m256i p01 = _mm256_packs_epi32(_mm256_srai_epi32(s[0], kPrecisionBits),
                                         _mm256_srai_epi32(s[1], kPrecisionBits));  // [0 2 | 1 3]
  const __m256i p23 = _mm256_packs_epi32(_mm256_srai_epi32(s[2], kPrecisionBits),
                                         _mm256_srai_epi32(s[3], kPrecisionBits));  // [4 6 | 5 7]
  const __m256i bytes = _mm256_packus_epi16(p01, p23);  // [0 2 4 6 | 1 3 5 7]
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Horizontal pass over one source row: n output pixels (a multiple of 4).
template <class Taps>
IMGPREP_AVX2 void pillow_row(const uint8_t* row, const int* starts, const int32_t* fixed4,
                             Taps taps, int n, uint8_t* out) {
  const size_t step = static_cast<size_t>(taps) * 4;  // fixed4 elements per output pixel
  for (int X = 0; X < n; X += 4) {
    RowSum s[4];
    for (int i = 0; i < 4; ++i)
      s[i] = row_sum(row + static_cast<ptrdiff_t>(starts[X + i]) * 4, fixed4 + (X + i) * step,
                     taps);
    const __m128i bytes = clip8_row4(row_ss(s[0], s[2], taps), row_ss(s[1], s[3], taps));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4 * X), bytes);
  }
}

// Vertical pass for one output row: n pixels (a multiple of 8) from `taps` rows of bytes,
// `stride` bytes apart, with the row's weights fixed[0 .. taps).
template <class Taps>
IMGPREP_AVX2 void pillow_column(const uint8_t* first, size_t stride, const int32_t* fixed,
                                Taps taps, int n, uint8_t* out) {
  const __m256i half = _mm256_set1_epi32(kHalf);
  for (int X = 0; X < n; X += 8) {
    __m256i s[4] = {half, half, half, half};
    const uint8_t* p = first + 4 * X;
    for (int k = 0; k < taps; ++k, p += stride) {
      const __m256i w = _mm256_set1_epi32(fixed[k]);
      for (int i = 0; i < 4; ++i)
        s[i] = _mm256_add_epi32(s[i], _mm256_mullo_epi32(widen2(p + 8 * i), w));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 4 * X), clip8_column8(s));
  }
}

// Horizontal pass: rows [y0, y1) of src into b.rows8 (`stride` RGBX pixels a row).
void pillow_horizontal_pass(const DecodedImage& src, int taps, int stride, int y0, int y1,
                            Buffers& b) {
  const size_t row_bytes = static_cast<size_t>(stride) * 4;
  b.rows8.resize(static_cast<size_t>(y1 - y0) * row_bytes);
  with_taps(taps, [&](auto t) {
    for (int y = y0; y < y1; ++y)
      pillow_row(src.pixels.data() + static_cast<size_t>(y) * src.width * 4, b.starts_x.data(),
                 b.fixed_x.data(), t, stride, b.rows8.data() + (y - y0) * row_bytes);
  });
}

// Vertical pass for output row Y into out (`stride` RGBX pixels; the store ignores pad columns).
void pillow_vertical_pass(const AxisPlan& py, int stride, int Y, int y0, const Buffers& b,
                          uint8_t* out) {
  const size_t row_bytes = static_cast<size_t>(stride) * 4;
  const uint8_t* first = b.rows8.data() + (py.start[Y] - y0) * row_bytes;
  const int32_t* fixed = py.fixed.data() + static_cast<size_t>(Y) * py.taps;
  with_taps(py.taps, [&](auto t) { pillow_column(first, row_bytes, fixed, t, stride, out); });
}

// ---- Output: 8-bit RGBX rows into the tensor ----

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
void store_row_by_table(const OutputSpec& spec, const AxisPlan& px, int Y, const uint8_t* pixels,
                        bool pad_row, Buffers& b, T* dst, int X0 = 0) {
  const T* values = value_table<T>(spec, b);
  const int pad = static_cast<int>(spec.pad_value);
  for (int X = X0; X < spec.width; ++X) {
    const bool blank = pad_row || px.is_pad(X);
    for (int c = 0; c < 3; ++c) {
      const int q = blank ? pad : pixels[4 * X + spec.source_lane(c)];
      dst[spec.index(X, Y, c)] = values[c * 256 + q];
    }
  }
}

// normalize() of pixels [0, n) in blocks of four into the channel rows planes[c]; returns how
// many it stored. The pixels are transposed to channel vectors.
int normalize_pixels_sse2(const uint8_t* pixels, int n, const OutputSpec& spec,
                          float* const (&planes)[3]) {
  int X = 0;
  for (; X + 4 <= n; X += 4) {
    const uint8_t* p = pixels + 4 * X;
    __m128 ch[4] = {load_pixel(p).v, load_pixel(p + 4).v, load_pixel(p + 8).v,
                    load_pixel(p + 12).v};
    _MM_TRANSPOSE4_PS(ch[0], ch[1], ch[2], ch[3]);
    for (int c = 0; c < 3; ++c) {
      const F4 v = normalize(F4{ch[spec.source_lane(c)]}, spec.norm.scale[c], spec.norm.mean[c],
                             spec.norm.std[c]);
      _mm_storeu_ps(planes[c] + X, v.v);
    }
  }
  return X;
}

// The same in blocks of eight: per channel, a byte shuffle picks that lane of each pixel as an
// int32 (within each 128-bit half), then normalize()'s arithmetic in its order.
IMGPREP_AVX2 int normalize_pixels_avx2(const uint8_t* pixels, int n, const OutputSpec& spec,
                                       float* const (&planes)[3]) {
  // Indices with the top bit set give zero bytes.
  const __m256i lane0 = _mm256_setr_epi8(0, -128, -128, -128, 4, -128, -128, -128,  //
                                         8, -128, -128, -128, 12, -128, -128, -128,  //
                                         0, -128, -128, -128, 4, -128, -128, -128,   //
                                         8, -128, -128, -128, 12, -128, -128, -128);
  // A local copy stays in registers: the vector stores may alias anything, so the caller's array
  // would be reloaded for every block.
  float* const out[3] = {planes[0], planes[1], planes[2]};
  __m256i pick[3];
  __m256 scale[3], mean[3], stddev[3];
  for (int c = 0; c < 3; ++c) {
    pick[c] = _mm256_add_epi8(lane0, _mm256_set1_epi8(static_cast<char>(spec.source_lane(c))));
    scale[c] = _mm256_set1_ps(spec.norm.scale[c]);
    mean[c] = _mm256_set1_ps(spec.norm.mean[c]);
    stddev[c] = _mm256_set1_ps(spec.norm.std[c]);
  }
  int X = 0;
  for (; X + 8 <= n; X += 8) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pixels + 4 * X));
    for (int c = 0; c < 3; ++c) {
      const __m256 q = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(v, pick[c]));
      const __m256 r = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(q, scale[c]), mean[c]), stddev[c]);
      _mm256_storeu_ps(out[c] + X, r);
    }
  }
  return X;
}

// float32 NCHW: the first `leading` pixels (those before any pad column) normalised in vector
// blocks, the rest through the table.
void store_row_f32_nchw(const OutputSpec& spec, const AxisPlan& px, int Y, const uint8_t* pixels,
                        bool pad_row, int leading, Buffers& b, float* dst) {
  int X = 0;
  if (!pad_row) {
    float* const planes[3] = {dst + spec.index(0, Y, 0), dst + spec.index(0, Y, 1),
                              dst + spec.index(0, Y, 2)};
    X = has_avx2() ? normalize_pixels_avx2(pixels, leading, spec, planes)
                   : normalize_pixels_sse2(pixels, leading, spec, planes);
  }
  if (X < spec.width) store_row_by_table(spec, px, Y, pixels, pad_row, b, dst, X);
}

// Output columns before the first pad column.
int leading_columns(const AxisPlan& px) {
  int n = 0;
  while (n < px.size() && !px.is_pad(n)) ++n;
  return n;
}

}  // namespace

void Resampler::run(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec,
                    void* dst) {
  const int W = spec.width, H = spec.height;
  const AxisPlan& py = plan.y;
  Buffers& b = buffers_;
  // Pillow's rounding is computed in integers where the CPU has AVX2; the float path, with its
  // tie test, serves the other plans and CPUs.
  const bool integer = plan.pillow_rounding && has_avx2() && sums_fit_int32(plan.x) &&
                       sums_fit_int32(py);
  // The integer path works in blocks of eight pixels: its rows are padded to a multiple of 8.
  const int stride = integer ? (W + 7) / 8 * 8 : W;
  const size_t pixel_bytes = integer ? 4 : sizeof(F4);
  if (integer) expand_fixed_x(plan.x, stride, b);
  // Horizontally resampled rows are kept for a window of at most kWindowBytes (but at least one
  // output row's taps), so an extreme vertical downscale cannot ask for gigabytes. Ordinary
  // images fit in one window. The plan's row starts never decrease.
  constexpr size_t kWindowBytes = size_t{64} << 20;
  const int window = std::max<int>(
      py.taps, static_cast<int>(kWindowBytes / (std::max(stride, 1) * pixel_bytes)));
  const int last_row = py.last_source();
  const int leading = leading_columns(plan.x);
  int y0 = 0, y1 = 0;  // the rows in the window
  b.out_row.resize(static_cast<size_t>(stride) * 4);
  uint8_t* row = b.out_row.data();
  for (int Y = 0; Y < H; ++Y) {
    const bool pad_row = py.is_pad(Y);
    if (!pad_row) {
      const int first = py.start[Y];
      if (first < y0 || first + py.taps > y1) {
        y0 = first;
        y1 = std::min(last_row, first + window);
        if (integer)
          pillow_horizontal_pass(src, plan.x.taps, stride, y0, y1, b);
        else
          horizontal_pass(src, plan, W, y0, y1, b);
      }
      if (integer)
        pillow_vertical_pass(py, stride, Y, y0, b, row);
      else
        vertical_pass(plan, W, Y, y0, b, row);
    }
    switch (spec.dtype) {
      case DType::float32:
        if (spec.layout == Layout::nchw)
          store_row_f32_nchw(spec, plan.x, Y, row, pad_row, leading, b, static_cast<float*>(dst));
        else
          store_row_by_table(spec, plan.x, Y, row, pad_row, b, static_cast<float*>(dst));
        break;
      case DType::float16:
        store_row_by_table(spec, plan.x, Y, row, pad_row, b, static_cast<uint16_t*>(dst));
        break;
      case DType::uint8:
        store_row_by_table(spec, plan.x, Y, row, pad_row, b, static_cast<uint8_t*>(dst));
        break;
    }
  }
}

}  // namespace imgprep

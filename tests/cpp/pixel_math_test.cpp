// The per-pixel arithmetic shared by every executor: float -> binary16 against the compiler's own
// _Float16 conversion (libgcc, round to nearest even), and 8-bit quantisation on its edges.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "imgprep/kernels/pixel_math.h"

namespace imgprep {
namespace {

float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// The reference: GCC's _Float16 (x86-64, GCC >= 12), converted with round to nearest even.
uint16_t reference_half_bits(float f) {
  const volatile float in = f;  // no constant folding: the run-time conversion is the reference
  const _Float16 h = static_cast<_Float16>(in);
  uint16_t u;
  std::memcpy(&u, &h, sizeof u);
  return u;
}

float half_bits_to_float(uint16_t u) {
  _Float16 h;
  std::memcpy(&h, &u, sizeof h);
  return static_cast<float>(h);
}

bool is_half_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x03ffu) != 0; }

// Compares one input; returns false (and reports) on a mismatch.
bool check_half(float f, int& failures) {
  const uint16_t got = float_to_half_bits(f);
  if (std::isnan(f)) {
    if (is_half_nan(got)) return true;
  } else if (got == reference_half_bits(f)) {
    return true;
  }
  if (++failures <= 20)
    ADD_FAILURE() << "float_to_half_bits(" << f << " = 0x" << std::hex << bits_of(f) << ") = 0x"
                  << got << ", expected 0x" << reference_half_bits(f) << std::dec;
  return false;
}

TEST(FloatToHalf, StridedSweepOverAllFloatBitPatterns) {
  int failures = 0;
  size_t count = 0;
  constexpr uint64_t kStride = 4099;  // odd and prime: every exponent and many mantissas
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += kStride, ++count)
    check_half(float_from_bits(static_cast<uint32_t>(u)), failures);
  // ...and the same sweep shifted, so low mantissa bits vary the other way.
  for (uint64_t u = 2047; u < (uint64_t{1} << 32); u += kStride * 7, ++count)
    check_half(float_from_bits(static_cast<uint32_t>(u)), failures);
  EXPECT_EQ(failures, 0) << "of " << count << " inputs";
}

// Every half value, the exact midpoints to its neighbours (the rounding ties) and the floats
// one ulp either side of each midpoint, both signs: every rounding boundary there is.
TEST(FloatToHalf, EveryHalfValueAndEveryRoundingTie) {
  int failures = 0;
  size_t count = 0;
  for (uint32_t h = 0; h < 0x7c00u; ++h) {  // +0 .. 65504
    const float lo = half_bits_to_float(static_cast<uint16_t>(h));
    // The next half up; above 65504 the midpoint to "65536" is where rounding overflows to inf.
    const double hi = h + 1 < 0x7c00u ? half_bits_to_float(static_cast<uint16_t>(h + 1)) : 65536.0;
    const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);  // exact: 12 bits
    ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(lo) + hi) / 2);
    for (float v : {lo, mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e30f)}) {
      check_half(v, failures);
      check_half(-v, failures);
      count += 2;
    }
  }
  EXPECT_EQ(failures, 0) << "of " << count << " inputs";
}

TEST(FloatToHalf, Boundaries) {
  const float inf = std::numeric_limits<float>::infinity();
  const struct {
    float in;
    uint16_t half;
  } cases[] = {
      {0.f, 0x0000},
      {-0.f, 0x8000},
      {1.f, 0x3c00},
      {-2.f, 0xc000},
      {0.1f, 0x2e66},
      {5.9604645e-8f, 0x0001},    // 2^-24, the smallest subnormal half
      {2.9802322e-8f, 0x0000},    // 2^-25: a tie between 0 and 2^-24, to even (0)
      {2.9802326e-8f, 0x0001},    // just above the tie
      {8.940697e-8f, 0x0002},     // 1.5 * 2^-24: a tie between 1 and 2, to even (2)
      {6.097555e-5f, 0x03ff},     // the largest subnormal half
      {6.1035156e-5f, 0x0400},    // 2^-14, the smallest normal half
      {65504.f, 0x7bff},          // the largest half
      {65519.996f, 0x7bff},       // just below the overflow tie
      {65520.f, 0x7c00},          // the tie between 65504 and 65536 rounds to inf
      {-65520.f, 0xfc00},
      {1e30f, 0x7c00},
      {std::numeric_limits<float>::max(), 0x7c00},
      {inf, 0x7c00},
      {-inf, 0xfc00},
      {std::numeric_limits<float>::denorm_min(), 0x0000},
      {-std::numeric_limits<float>::denorm_min(), 0x8000},
      {2049.f, 0x6800},           // tie between 2048 and 2050, to even (2048)
      {2051.f, 0x6802},           // tie between 2050 and 2052, to even (2052)
  };
  for (const auto& c : cases) {
    EXPECT_EQ(float_to_half_bits(c.in), c.half) << c.in;
    EXPECT_EQ(reference_half_bits(c.in), c.half) << c.in << " (the reference disagrees)";
  }
  for (float nan : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::signaling_NaN(), float_from_bits(0x7f800001u),
                    float_from_bits(0xffffffffu)}) {
    EXPECT_TRUE(is_half_nan(float_to_half_bits(nan))) << std::hex << bits_of(nan);
  }
}

TEST(QuantizeU8, RoundsHalfUpAndClamps) {
  const struct {
    float in, out;
  } cases[] = {
      {-1e9f, 0.f}, {-0.6f, 0.f},    {-0.5f, 0.f},    {0.f, 0.f},      {0.49f, 0.f},
      {0.5f, 1.f},  {1.5f, 2.f},     {2.5f, 3.f},     {127.4999f, 127.f}, {127.5f, 128.f},
      {254.49f, 254.f}, {254.5f, 255.f}, {255.f, 255.f}, {255.4f, 255.f}, {255.5f, 255.f},
      {300.f, 255.f}, {1e9f, 255.f},
  };
  for (const auto& c : cases) EXPECT_EQ(quantize_u8(c.in), c.out) << c.in;
}

TEST(Normalize, AppliesScaleMeanStdPerChannel) {
  const Normalization n{{1.f / 255, 1.f / 255, 1.f / 255}, {0.485f, 0.456f, 0.406f},
                        {0.229f, 0.224f, 0.225f}};
  EXPECT_FLOAT_EQ(normalize(255.f, n, 0), (1.f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(normalize(0.f, n, 1), -0.456f / 0.224f);
  EXPECT_FLOAT_EQ(normalize(128.f, n, 2), (128.f / 255 - 0.406f) / 0.225f);
}

}  // namespace
}  // namespace imgprep

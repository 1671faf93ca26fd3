// The Resampler's output stage: every dtype, layout and channel order is the same 8-bit result,
// normalised as documented ((q * scale - mean) / std), stored where the layout says, and
// padding shows the normalised pad value. The uint8 NHWC RGB output is the reference; its own
// values are checked against OpenCV in resample_opencv_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "imgprep/kernels/geometry.h"
#include "imgprep/kernels/resample_plan.h"
#include "imgprep/core/resampler.h"
#include "test_support.h"

namespace imgprep {
namespace {
using test::random_rgbx;

OutputSpec spec_for(const Placement& p, DType dtype, Layout layout, bool bgr) {
  OutputSpec spec;
  spec.width = p.out_w;
  spec.height = p.out_h;
  spec.dtype = dtype;
  spec.layout = layout;
  spec.bgr = bgr;
  spec.pad_value = 114;
  // In output channel order, deliberately different per channel.
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    spec.norm.scale[c] = 1.f / 255.f;
    spec.norm.mean[c] = mean[c];
    spec.norm.std[c] = stdev[c];
  }
  return spec;
}

uint16_t half_bits(float f) {
  const volatile float in = f;
  const _Float16 h = static_cast<_Float16>(in);
  uint16_t u;
  std::memcpy(&u, &h, sizeof u);
  return u;
}

class ResamplerOutput : public ::testing::TestWithParam<ResampleMethod> {};

TEST_P(ResamplerOutput, DtypesLayoutsAndChannelOrderAgree) {
  const DecodedImage img = random_rgbx(41, 23, 5);
  // A letterbox with a crop: resized pixels and pad on both axes.
  const Placement p =
      place(41, 23, ResizeSpec{ResizeMode::letterbox, 0, 30, 30}, CropSpec{true, 32, 20});
  const ResizePlan plan = make_resize_plan(41, 23, 41, 23, p, GetParam());
  const int W = p.out_w, H = p.out_h;
  Resampler resampler;

  std::vector<uint8_t> ref(static_cast<size_t>(W) * H * 3);
  resampler.run(img, plan, spec_for(p, DType::uint8, Layout::nhwc, false), ref.data());
  auto q = [&](int x, int y, int rgb) { return static_cast<float>(ref[(y * W + x) * 3 + rgb]); };
  // Pad pixels carry the pad value in uint8 output.
  bool saw_pad = false;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      if (plan.x.is_pad(x) || plan.y.is_pad(y)) {
        saw_pad = true;
        for (int c = 0; c < 3; ++c) ASSERT_EQ(q(x, y, c), 114.f) << x << "," << y;
      }
  ASSERT_TRUE(saw_pad);

  for (bool bgr : {false, true})
    for (Layout layout : {Layout::nchw, Layout::nhwc}) {
      SCOPED_TRACE(std::string(bgr ? "bgr " : "rgb ") + (layout == Layout::nchw ? "nchw" : "nhwc"));
      const OutputSpec spec = spec_for(p, DType::float32, layout, bgr);
      std::vector<float> f32(spec.bytes() / 4);
      resampler.run(img, plan, spec, f32.data());
      const OutputSpec spec16 = spec_for(p, DType::float16, layout, bgr);
      std::vector<uint16_t> f16(spec16.bytes() / 2);
      resampler.run(img, plan, spec16, f16.data());
      std::vector<uint8_t> u8(spec.bytes() / 4);
      resampler.run(img, plan, spec_for(p, DType::uint8, layout, bgr), u8.data());
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          for (int c = 0; c < 3; ++c) {
            const size_t at = layout == Layout::nchw ? (static_cast<size_t>(c) * H + y) * W + x
                                                     : (static_cast<size_t>(y) * W + x) * 3 + c;
            const float v = q(x, y, bgr ? 2 - c : c);
            const float want = (v * (1.f / 255.f) - spec.norm.mean[c]) / spec.norm.std[c];
            ASSERT_EQ(u8[at], static_cast<uint8_t>(v)) << x << "," << y << "," << c;
            ASSERT_FLOAT_EQ(f32[at], want) << x << "," << y << "," << c;
            ASSERT_EQ(f16[at], half_bits(f32[at])) << x << "," << y << "," << c;
          }
    }
}

std::string method_name(const ::testing::TestParamInfo<ResampleMethod>& info) {
  static const char* const names[] = {"nearest", "linear", "cubic", "area", "lanczos"};
  return std::string(names[static_cast<int>(info.param.interp)]) +
         (info.param.antialias ? "_antialias" : "");
}

INSTANTIATE_TEST_SUITE_P(Methods, ResamplerOutput,
                         ::testing::Values(ResampleMethod{Interp::linear, false},
                                           ResampleMethod{Interp::cubic, true},
                                           ResampleMethod{Interp::nearest, true}),
                         method_name);

}  // namespace
}  // namespace imgprep

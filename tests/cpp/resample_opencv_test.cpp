// The antialias-off resampling plans, run by the CPU Resampler, against OpenCV's cv::resize on the
// same RGB data (the project's contract: max |diff| <= 1), and place() against torchvision's
// Resize/CenterCrop and Ultralytics' LetterBox rounding rules, re-derived here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "imgprep/kernels/geometry.h"
#include "imgprep/kernels/resample_plan.h"
#include "imgprep/core/resampler.h"

namespace imgprep {
namespace {

// ---- images ----

cv::Mat noise_image(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  cv::Mat m(h, w, CV_8UC3);
  for (auto it = m.begin<cv::Vec3b>(); it != m.end<cv::Vec3b>(); ++it)
    *it = cv::Vec3b(byte(rng), byte(rng), byte(rng));
  return m;
}

cv::Mat gradient_image(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(x * 255 / std::max(w - 1, 1)),
                                        static_cast<uchar>(y * 255 / std::max(h - 1, 1)),
                                        static_cast<uchar>((x + 2 * y) % 256));
  return m;
}

// The decoder's output format: RGBX. X is unspecified, so it is filled with junk that must not
// reach the output.
DecodedImage to_rgbx(const cv::Mat& rgb) {
  DecodedImage img;
  img.width = rgb.cols;
  img.height = rgb.rows;
  img.extent_w = rgb.cols;
  img.extent_h = rgb.rows;
  img.pixels.resize(static_cast<size_t>(rgb.cols) * rgb.rows * 4);
  size_t i = 0;
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x) {
      const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
      img.pixels[i++] = p[0];
      img.pixels[i++] = p[1];
      img.pixels[i++] = p[2];
      img.pixels[i++] = static_cast<uint8_t>(0xA5 ^ (x * 7 + y));
    }
  return img;
}

// The code under test: plan + CPU executor, uint8 NHWC RGB output.
cv::Mat run_plan(const cv::Mat& rgb, const Placement& p, Interp interp, int pad_value = 0) {
  const DecodedImage img = to_rgbx(rgb);
  const ResizePlan plan =
      make_resize_plan(img.width, img.height, img.width, img.height, p, ResampleMethod{interp, false});
  OutputSpec spec;
  spec.width = p.out_w;
  spec.height = p.out_h;
  spec.layout = Layout::nhwc;
  spec.dtype = DType::uint8;
  spec.bgr = false;
  spec.pad_value = static_cast<float>(pad_value);
  cv::Mat out(p.out_h, p.out_w, CV_8UC3, cv::Scalar::all(77));
  Resampler resampler;
  resampler.run(img, plan, spec, out.data);
  return out;
}

int max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return 1000;
  return static_cast<int>(cv::norm(a, b, cv::NORM_INF));
}

std::string size_str(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

// ---- the rounding rules, written out independently of geometry.cpp ----

// Python's round(): nearest integer, exact halves to the even neighbour.
int py_round(double v) {
  const double f = std::floor(v);
  const double frac = v - f;
  int r = static_cast<int>(f);
  if (frac > 0.5 || (frac == 0.5 && r % 2 != 0)) ++r;
  return r;
}

// torchvision Resize(size): shorter side -> size, longer side int(size * long / short).
std::pair<int, int> torchvision_resize(int w, int h, int size) {
  if (w <= h) return {size, static_cast<int>(static_cast<double>(size * h) / w)};
  return {static_cast<int>(static_cast<double>(size * w) / h), size};
}

// torchvision.transforms.functional.center_crop: zero padding split (d // 2, (d + 1) // 2)
// when the crop is larger, then a crop at round((size - crop) / 2) of the padded image.
cv::Mat torchvision_center_crop(const cv::Mat& img, int cw, int ch) {
  const int pl = cw > img.cols ? (cw - img.cols) / 2 : 0;
  const int pr = cw > img.cols ? (cw - img.cols + 1) / 2 : 0;
  const int pt = ch > img.rows ? (ch - img.rows) / 2 : 0;
  const int pb = ch > img.rows ? (ch - img.rows + 1) / 2 : 0;
  cv::Mat padded;
  cv::copyMakeBorder(img, padded, pt, pb, pl, pr, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  const int left = py_round((padded.cols - cw) / 2.0);
  const int top = py_round((padded.rows - ch) / 2.0);
  return padded(cv::Rect(left, top, cw, ch)).clone();
}

// Ultralytics LetterBox (auto=False, scaleup=True, center=True) with cv::resize.
struct Letterbox {
  int inner_w, inner_h, left, right, top, bottom;
};

Letterbox ultralytics_letterbox(int w, int h, int W, int H) {
  const double r = std::min(static_cast<double>(W) / w, static_cast<double>(H) / h);
  Letterbox lb;
  lb.inner_w = py_round(w * r);
  lb.inner_h = py_round(h * r);
  const double dw = (W - lb.inner_w) / 2.0, dh = (H - lb.inner_h) / 2.0;
  lb.left = py_round(dw - 0.1);
  lb.right = py_round(dw + 0.1);
  lb.top = py_round(dh - 0.1);
  lb.bottom = py_round(dh + 0.1);
  return lb;
}

cv::Mat letterbox_reference(const cv::Mat& img, int W, int H, int cv_interp, int pad) {
  const Letterbox lb = ultralytics_letterbox(img.cols, img.rows, W, H);
  cv::Mat inner = img, out;
  if (lb.inner_w != img.cols || lb.inner_h != img.rows)
    cv::resize(img, inner, cv::Size(lb.inner_w, lb.inner_h), 0, 0, cv_interp);
  cv::copyMakeBorder(inner, out, lb.top, lb.bottom, lb.left, lb.right, cv::BORDER_CONSTANT,
                     cv::Scalar::all(pad));
  return out;
}

// ---- sizes ----

const std::vector<std::pair<int, int>> kSourceSizes = {
    {1, 1}, {2, 3}, {7, 5}, {3, 97}, {97, 3}, {33, 17}, {500, 375}, {375, 500}};

std::vector<std::pair<int, int>> targets_for(int w, int h) {
  auto at_least_1 = [](double v) { return std::max(1, static_cast<int>(std::lround(v))); };
  std::vector<std::pair<int, int>> t = {
      {at_least_1(w / 2), at_least_1(h / 2)},          // down by 2 (integer)
      {at_least_1(w * 0.682), at_least_1(h * 0.7)},    // non-integer down: 500 -> 341
      {at_least_1(w / 3.3), at_least_1(h / 1.7)},      // two different non-integer factors
      {at_least_1(w * 2.5), at_least_1(h * 2.5)},      // up by 2.5
      {w * 2, at_least_1(h / 3.0)},                    // up in x, down in y
      {at_least_1(w / 3.0), h * 2 + 1},                // down in x, up in y
      {1, at_least_1(h * 0.8)},                        // 1 x N
      {at_least_1(w * 1.3), 1},                        // N x 1
      {w, h},                                          // identity
  };
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  return t;
}

struct Method {
  Interp interp;
  int cv_flag;
  const char* name;
};

std::string method_name(const ::testing::TestParamInfo<Method>& info) { return info.param.name; }

class ResampleVsOpenCV : public ::testing::TestWithParam<Method> {
 protected:
  // Everything in the contract: max |diff| <= 1 against cv::resize.
  static constexpr int kTolerance = 1;

  // Checks one comparison and keeps the worst case for the summary line.
  void check(const cv::Mat& expected, const cv::Mat& actual, const std::string& what) {
    ASSERT_EQ(actual.size(), expected.size()) << what;
    const int diff = max_abs_diff(expected, actual);
    ++cases_;
    cv::Mat delta;
    cv::absdiff(expected, actual, delta);
    values_ += delta.total() * delta.channels();
    off_by_one_ += static_cast<size_t>(cv::countNonZero(delta.reshape(1)));
    if (diff > worst_) {
      worst_ = diff;
      worst_case_ = what;
    }
    EXPECT_LE(diff, kTolerance) << what;
  }

  void TearDown() override {
    std::printf("[ summary  ] %s: %d comparisons, %zu of %zu values differ, max |diff| %d%s%s\n",
                GetParam().name, cases_, off_by_one_, values_, worst_,
                worst_ ? " (first at " : "", worst_ ? (worst_case_ + ")").c_str() : "");
    RecordProperty("max_abs_diff", worst_);
  }

  int cases_ = 0;
  size_t values_ = 0, off_by_one_ = 0;  // channel values compared / differing
  int worst_ = 0;
  std::string worst_case_;
};

TEST_P(ResampleVsOpenCV, StretchMatchesCvResize) {
  const Method m = GetParam();
  unsigned seed = 1;
  for (const auto& [w, h] : kSourceSizes) {
    const cv::Mat images[2] = {noise_image(w, h, seed++), gradient_image(w, h)};
    for (const auto& [W, H] : targets_for(w, h)) {
      const Placement p = place(w, h, ResizeSpec{ResizeMode::stretch, 0, W, H}, CropSpec{});
      ASSERT_EQ(p.out_w, W);
      ASSERT_EQ(p.out_h, H);
      for (int i = 0; i < 2; ++i) {
        cv::Mat expected;
        cv::resize(images[i], expected, cv::Size(W, H), 0, 0, m.cv_flag);
        check(expected, run_plan(images[i], p, m.interp),
              std::string(i ? "gradient " : "noise ") + size_str(w, h) + " -> " + size_str(W, H));
      }
    }
  }
}

TEST_P(ResampleVsOpenCV, CenterCropMatchesResizeThenCrop) {
  const Method m = GetParam();
  struct Case {
    int w, h;
    ResizeSpec resize;
    int crop_w, crop_h;
  };
  const Case cases[] = {
      {500, 375, {ResizeMode::shorter, 256}, 224, 224},
      {375, 500, {ResizeMode::shorter, 256}, 224, 224},
      {333, 500, {ResizeMode::shorter, 256}, 224, 200},
      {33, 17, {ResizeMode::stretch, 0, 20, 11}, 7, 5},
      {33, 17, {ResizeMode::none}, 16, 9},
      {7, 5, {ResizeMode::stretch, 0, 7, 5}, 10, 8},     // crop larger: padding only
      {97, 3, {ResizeMode::stretch, 0, 50, 9}, 30, 12},  // crop in x, pad in y
      {2, 3, {ResizeMode::shorter, 5}, 6, 6},            // pad in x, crop in y
  };
  for (const Case& c : cases) {
    const cv::Mat src = noise_image(c.w, c.h, 1000 + c.w);
    const Placement p = place(c.w, c.h, c.resize, CropSpec{true, c.crop_w, c.crop_h});
    int rw = c.w, rh = c.h;
    if (c.resize.mode == ResizeMode::shorter)
      std::tie(rw, rh) = torchvision_resize(c.w, c.h, c.resize.size);
    else if (c.resize.mode == ResizeMode::stretch)
      rw = c.resize.width, rh = c.resize.height;
    cv::Mat resized = src;
    if (rw != c.w || rh != c.h) cv::resize(src, resized, cv::Size(rw, rh), 0, 0, m.cv_flag);
    const cv::Mat expected = torchvision_center_crop(resized, c.crop_w, c.crop_h);
    check(expected, run_plan(src, p, m.interp),
          size_str(c.w, c.h) + " -> " + size_str(rw, rh) + " crop " + size_str(c.crop_w, c.crop_h));
  }
}

TEST_P(ResampleVsOpenCV, LetterboxMatchesUltralytics) {
  const Method m = GetParam();
  const struct {
    int w, h, W, H;
  } cases[] = {{500, 375, 640, 640}, {375, 500, 640, 640}, {33, 17, 64, 64}, {97, 3, 320, 320},
               {3, 97, 48, 32},      {4, 3, 10, 10},      {7, 5, 16, 9},    {1, 1, 5, 3}};
  for (const auto& c : cases) {
    const cv::Mat src = noise_image(c.w, c.h, 2000 + c.w * 3 + c.h);
    const cv::Mat expected = letterbox_reference(src, c.W, c.H, m.cv_flag, 114);
    ASSERT_EQ(expected.size(), cv::Size(c.W, c.H));
    const Placement p =
        place(c.w, c.h, ResizeSpec{ResizeMode::letterbox, 0, c.W, c.H}, CropSpec{});
    check(expected, run_plan(src, p, m.interp, 114),
          size_str(c.w, c.h) + " letterbox " + size_str(c.W, c.H));
  }
  // A centre crop after a letterbox crops the padded canvas.
  const cv::Mat src = noise_image(33, 17, 77);
  const cv::Mat expected =
      torchvision_center_crop(letterbox_reference(src, 64, 64, m.cv_flag, 114), 60, 40);
  const Placement p =
      place(33, 17, ResizeSpec{ResizeMode::letterbox, 0, 64, 64}, CropSpec{true, 60, 40});
  // torchvision pads the canvas with zeros only where the crop is larger; here it is smaller.
  check(expected, run_plan(src, p, m.interp, 114), "33x17 letterbox 64x64 crop 60x40");
}

INSTANTIATE_TEST_SUITE_P(Methods, ResampleVsOpenCV,
                         ::testing::Values(Method{Interp::nearest, cv::INTER_NEAREST, "nearest"},
                                           Method{Interp::linear, cv::INTER_LINEAR, "linear"},
                                           Method{Interp::cubic, cv::INTER_CUBIC, "cubic"},
                                           Method{Interp::area, cv::INTER_AREA, "area"},
                                           Method{Interp::lanczos, cv::INTER_LANCZOS4, "lanczos"}),
                         method_name);

// ---- place() on the cases the rounding rules are about ----

Placement shorter(int w, int h, int size, int crop = 0) {
  return place(w, h, ResizeSpec{ResizeMode::shorter, size}, CropSpec{crop > 0, crop, crop});
}

TEST(Place, ShorterSideFollowsTorchvision) {
  Placement p = shorter(500, 375, 256);
  EXPECT_EQ(p.resized_w, 341);
  EXPECT_EQ(p.resized_h, 256);
  EXPECT_EQ(p.out_w, 341);
  EXPECT_EQ(p.out_h, 256);
  EXPECT_EQ(p.offset_x, 0);
  EXPECT_EQ(p.offset_y, 0);

  p = shorter(375, 500, 256);
  EXPECT_EQ(p.resized_w, 256);
  EXPECT_EQ(p.resized_h, 341);

  p = shorter(333, 500, 256);  // 256 * 500 / 333 = 384.38...: truncated, not rounded
  EXPECT_EQ(p.resized_w, 256);
  EXPECT_EQ(p.resized_h, 384);

  p = shorter(3, 97, 5);  // 161.67 -> 161
  EXPECT_EQ(p.resized_w, 5);
  EXPECT_EQ(p.resized_h, 161);

  p = shorter(640, 480, 224);  // 298.67 -> 298
  EXPECT_EQ(p.resized_w, 298);
  EXPECT_EQ(p.resized_h, 224);

  p = shorter(300, 300, 224);
  EXPECT_EQ(p.resized_w, 224);
  EXPECT_EQ(p.resized_h, 224);

  // Against the formula written out here, over many sizes.
  for (int w = 1; w < 60; w += 3)
    for (int h = 1; h < 60; h += 4) {
      const auto [rw, rh] = torchvision_resize(w, h, 37);
      p = shorter(w, h, 37);
      EXPECT_EQ(p.resized_w, rw) << size_str(w, h);
      EXPECT_EQ(p.resized_h, rh) << size_str(w, h);
    }
}

TEST(Place, LongerSideTruncatesTheShortSide) {
  const Placement p = place(500, 375, ResizeSpec{ResizeMode::longer, 256}, CropSpec{});
  EXPECT_EQ(p.resized_w, 256);
  EXPECT_EQ(p.resized_h, 192);  // 256 * 375 / 500 = 192
  const Placement q = place(333, 500, ResizeSpec{ResizeMode::longer, 100}, CropSpec{});
  EXPECT_EQ(q.resized_w, 66);  // 66.6 truncated
  EXPECT_EQ(q.resized_h, 100);
}

TEST(Place, CenterCropOffsetsRoundHalfToEven) {
  Placement p = shorter(500, 375, 256, 224);  // (341 - 224) / 2 = 58.5 -> 58
  EXPECT_EQ(p.offset_x, 58);
  EXPECT_EQ(p.offset_y, 16);
  EXPECT_EQ(p.out_w, 224);
  EXPECT_EQ(p.out_h, 224);

  p = shorter(375, 500, 256, 224);
  EXPECT_EQ(p.offset_x, 16);
  EXPECT_EQ(p.offset_y, 58);

  // (in - crop) / 2 = 0.5, 1.5, 2.5, 3.5 -> 0, 2, 2, 4
  const int expected[] = {0, 2, 2, 4};
  for (int i = 0; i < 4; ++i) {
    const int in = 10 + 2 * i + 1;
    const Placement q =
        place(in, 10, ResizeSpec{ResizeMode::none}, CropSpec{true, 10, 10});
    EXPECT_EQ(q.offset_x, expected[i]) << "in " << in;
    EXPECT_EQ(q.offset_x, py_round((in - 10) / 2.0));
  }

  // A crop larger than the image pads (crop - in) // 2 on the left/top.
  p = place(7, 5, ResizeSpec{ResizeMode::none}, CropSpec{true, 10, 8});
  EXPECT_EQ(p.offset_x, -1);  // 3 // 2
  EXPECT_EQ(p.offset_y, -1);  // 3 // 2
  p = place(7, 5, ResizeSpec{ResizeMode::none}, CropSpec{true, 12, 3});
  EXPECT_EQ(p.offset_x, -2);  // 5 // 2
  EXPECT_EQ(p.offset_y, 1);   // round(2 / 2)
}

TEST(Place, LetterboxFollowsUltralytics) {
  const struct {
    int w, h, W, H;
    int rw, rh, left, top;
  } cases[] = {
      {500, 375, 640, 640, 640, 480, 0, 80},
      {375, 500, 640, 640, 480, 640, 80, 0},
      {33, 17, 64, 64, 64, 33, 0, 15},   // dh = 15.5: round(15.4) = 15 on top, 16 below
      {97, 3, 320, 320, 320, 10, 0, 155},
      {4, 1, 10, 10, 10, 2, 0, 4},       // 1 * 2.5 = 2.5 -> 2 (half to even)
      {4, 3, 10, 10, 10, 8, 0, 1},       // 3 * 2.5 = 7.5 -> 8
      {1920, 1080, 640, 640, 640, 360, 0, 140},
      {1, 1, 5, 3, 3, 3, 1, 0},
  };
  for (const auto& c : cases) {
    const Placement p = place(c.w, c.h, ResizeSpec{ResizeMode::letterbox, 0, c.W, c.H}, CropSpec{});
    const Letterbox lb = ultralytics_letterbox(c.w, c.h, c.W, c.H);
    const std::string what = size_str(c.w, c.h) + " -> " + size_str(c.W, c.H);
    // The table and the rules written out here agree...
    EXPECT_EQ(lb.inner_w, c.rw) << what;
    EXPECT_EQ(lb.inner_h, c.rh) << what;
    EXPECT_EQ(lb.left, c.left) << what;
    EXPECT_EQ(lb.top, c.top) << what;
    // ...and so does place().
    EXPECT_EQ(p.resized_w, c.rw) << what;
    EXPECT_EQ(p.resized_h, c.rh) << what;
    EXPECT_EQ(p.out_w, c.W) << what;
    EXPECT_EQ(p.out_h, c.H) << what;
    EXPECT_EQ(p.offset_x, -c.left) << what;
    EXPECT_EQ(p.offset_y, -c.top) << what;
  }
}

TEST(Place, FixedOutputSize) {
  EXPECT_FALSE(has_fixed_output_size(ResizeSpec{ResizeMode::shorter, 256}, CropSpec{}));
  EXPECT_FALSE(has_fixed_output_size(ResizeSpec{ResizeMode::none}, CropSpec{}));
  EXPECT_TRUE(has_fixed_output_size(ResizeSpec{ResizeMode::shorter, 256}, CropSpec{true, 224, 224}));
  EXPECT_TRUE(has_fixed_output_size(ResizeSpec{ResizeMode::stretch, 0, 32, 16}, CropSpec{}));
  EXPECT_TRUE(has_fixed_output_size(ResizeSpec{ResizeMode::letterbox, 0, 640, 640}, CropSpec{}));
}

}  // namespace
}  // namespace imgprep

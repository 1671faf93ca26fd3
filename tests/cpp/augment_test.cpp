// Seeded augmentation: keyed draws (deterministic, per input, within torchvision's bounds, its
// fallback box), the keyed shuffle, and plans: a box plan reads only its box and equals the plan
// of the cropped image; a flipped plan gives the mirrored output. The references are the
// Resampler's own output on an explicitly cropped or mirrored image, and torchvision's formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "imgprep/core/augment.h"
#include "imgprep/core/resampler.h"
#include "test_support.h"

namespace imgprep {
namespace {
using test::random_rgbx;

DecodedImage crop_of(const DecodedImage& img, const CropBox& box) {
  DecodedImage out;
  out.width = box.width;
  out.height = box.height;
  out.extent_w = box.width;
  out.extent_h = box.height;
  out.pixels.resize(static_cast<size_t>(box.width) * box.height * 4);
  for (int y = 0; y < box.height; ++y)
    std::copy_n(img.pixels.data() + ((static_cast<size_t>(box.y) + y) * img.width + box.x) * 4,
                box.width * 4, out.pixels.data() + static_cast<size_t>(y) * box.width * 4);
  return out;
}

Bytes resample(const DecodedImage& img, const ResizePlan& plan, int w, int h) {
  OutputSpec spec;
  spec.width = w;
  spec.height = h;
  spec.dtype = DType::uint8;
  spec.layout = Layout::nhwc;
  Bytes out(spec.bytes());
  Resampler().run(img, plan, spec, out.data());
  return out;
}

Augment training(int side) {
  Augment a;
  a.crop_w = a.crop_h = side;
  a.flip_p = 0.5;
  a.seed = 42;
  return a;
}

TEST(Augment, DrawsAreKeyedAndWithinTorchvisionsBounds) {
  const Augment a = training(224);
  std::set<std::tuple<int, int, int, int>> boxes;
  int flips = 0;
  const int n = 4000;
  for (uint64_t key = 0; key < n; ++key) {
    const AugmentDraw d = draw_augment(a, 500, 375, key);
    const AugmentDraw again = draw_augment(a, 500, 375, key);
    EXPECT_EQ(d.box, again.box);
    EXPECT_EQ(d.flip, again.flip);
    const CropBox& b = d.box;
    ASSERT_TRUE(b.x >= 0 && b.y >= 0 && b.x + b.width <= 500 && b.y + b.height <= 375);
    if (!d.fallback) {
      // w = round(sqrt(area * r)), h = round(sqrt(area / r)): w*h and w/h stay near the draws.
      const double area = static_cast<double>(b.width) * b.height / (500.0 * 375.0);
      EXPECT_GE(area, 0.08 * 0.9);
      EXPECT_LE(area, 1.0);
      const double ratio = static_cast<double>(b.width) / b.height;
      EXPECT_GT(ratio, 0.75 * 0.9);
      EXPECT_LT(ratio, 4.0 / 3.0 * 1.1);
    }
    boxes.insert({b.x, b.y, b.width, b.height});
    flips += d.flip;
  }
  EXPECT_GT(boxes.size(), n * 9 / 10u);
  EXPECT_NEAR(flips, n / 2, 4 * std::sqrt(n / 4.0));  // four sigma
  Augment next_epoch = a;
  next_epoch.epoch = 1;
  EXPECT_NE(draw_augment(next_epoch, 500, 375, 7).box, draw_augment(a, 500, 375, 7).box);
}

TEST(Augment, FallsBackToTorchvisionsCentralBox) {
  Augment a = training(8);
  a.scale_min = 0.9;
  // 1000 x 10: no box of 90% of the area with ratio 3/4..4/3 fits in ten tries.
  const AugmentDraw wide = draw_augment(a, 1000, 10, 3);
  EXPECT_TRUE(wide.fallback);
  EXPECT_EQ(wide.box, (CropBox{(1000 - 13) / 2, 0, 13, 10}));  // h = 10, w = round(10 * 4/3)
  const AugmentDraw tall = draw_augment(a, 10, 1000, 3);
  EXPECT_EQ(tall.box, (CropBox{0, (1000 - 13) / 2, 10, 13}));  // w = 10, h = round(10 / (3/4))
}

TEST(Augment, ShuffleIsAKeyedPermutation) {
  const std::vector<uint64_t> a = shuffled_order(1000, 5, 0);
  std::vector<uint64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(shuffled_order(1000, 5, 0), a);
  EXPECT_NE(shuffled_order(1000, 5, 1), a);
  EXPECT_NE(shuffled_order(1000, 6, 0), a);
  EXPECT_TRUE(shuffled_order(0, 5, 0).empty());
}

TEST(Augment, BoxPlanEqualsResizingTheCroppedImage) {
  const DecodedImage img = random_rgbx(97, 61, 1);
  for (const ResampleMethod method :
       {ResampleMethod{Interp::linear, true}, ResampleMethod{Interp::lanczos, true},
        ResampleMethod{Interp::cubic, false}, ResampleMethod{Interp::area, false}}) {
    for (const CropBox box : {CropBox{10, 5, 40, 30}, CropBox{0, 0, 97, 61}, CropBox{80, 50, 17, 11}}) {
      const ResizePlan plan = make_box_plan(box, 24, 20, method);
      EXPECT_GE(plan.x.first_source(), box.x);
      EXPECT_LE(plan.x.last_source(), box.x + box.width);
      EXPECT_GE(plan.y.first_source(), box.y);
      EXPECT_LE(plan.y.last_source(), box.y + box.height);
      Placement whole;
      whole.resized_w = whole.out_w = 24;
      whole.resized_h = whole.out_h = 20;
      const ResizePlan cropped_plan =
          make_resize_plan(box.width, box.height, box.width, box.height, whole, method);
      EXPECT_EQ(resample(img, plan, 24, 20),
                resample(crop_of(img, box), cropped_plan, 24, 20));
    }
  }
}

TEST(Augment, FlippedPlanMirrorsTheOutput) {
  const DecodedImage img = random_rgbx(80, 50, 2);
  for (const ResampleMethod method :
       {ResampleMethod{Interp::linear, true}, ResampleMethod{Interp::nearest, true},
        ResampleMethod{Interp::cubic, false}}) {
    const int w = 33, h = 21;
    const ResizePlan plan = make_box_plan({5, 3, 70, 40}, w, h, method);
    ResizePlan flipped = plan;
    flip_horizontally(flipped);
    const Bytes out = resample(img, plan, w, h);
    const Bytes mirrored = resample(img, flipped, w, h);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c)
          ASSERT_EQ(mirrored[(static_cast<size_t>(y) * w + x) * 3 + c],
                    out[(static_cast<size_t>(y) * w + (w - 1 - x)) * 3 + c])
              << x << "," << y;
  }
}

}  // namespace
}  // namespace imgprep

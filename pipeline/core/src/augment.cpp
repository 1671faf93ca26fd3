#include "imgprep/core/augment.h"

#include <algorithm>
#include <cmath>

namespace imgprep {
namespace {

// SplitMix64's finaliser: a bijective mix of 64 bits.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A counter-based stream of random numbers for one (seed, epoch, key, purpose).
class KeyedRandom {
 public:
  KeyedRandom(uint64_t seed, uint64_t epoch, uint64_t key, uint64_t purpose)
      : state_(mix(mix(mix(mix(seed) ^ epoch) ^ key) ^ purpose)) {}
  KeyedRandom(const Augment& a, uint64_t key, uint64_t purpose)
      : KeyedRandom(a.seed, a.epoch, key, purpose) {}
  // Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform in [0, n), n >= 1 (Lemire's multiply-and-reject, unbiased).
  int64_t below(uint64_t n) {
    for (;;) {
      const unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
      const uint64_t low = static_cast<uint64_t>(m);
      if (low >= n || low >= (0 - n) % n) return static_cast<int64_t>(m >> 64);
    }
  }

 private:
  uint64_t next() { return mix(state_ += 0x9e3779b97f4a7c15ULL); }
  uint64_t state_;
};

constexpr uint64_t kCropDraws = 1, kFlipDraws = 2, kShuffle = 3, kShare = 4;

// Python's round(): half to even.
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

// torchvision.transforms.RandomResizedCrop.get_params.
AugmentDraw draw_box(const Augment& a, int width, int height, uint64_t key) {
  KeyedRandom random(a, key, kCropDraws);
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(a.ratio_min), log_hi = std::log(a.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * random.uniform(a.scale_min, a.scale_max);
    const double aspect = std::exp(random.uniform(log_lo, log_hi));
    const int w = round_half_even(std::sqrt(target_area * aspect));
    const int h = round_half_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int y = static_cast<int>(random.below(static_cast<uint64_t>(height - h + 1)));
      const int x = static_cast<int>(random.below(static_cast<uint64_t>(width - w + 1)));
      return {{x, y, w, h}, false, false};
    }
  }
  // The central fallback.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < std::min(a.ratio_min, a.ratio_max)) {
    h = round_half_even(w / std::min(a.ratio_min, a.ratio_max));
  } else if (in_ratio > std::max(a.ratio_min, a.ratio_max)) {
    w = round_half_even(h * std::max(a.ratio_min, a.ratio_max));
  }
  return {{(width - w) / 2, (height - h) / 2, w, h}, false, true};
}

}  // namespace

bool in_keyed_share(uint64_t key, double share) {
  return KeyedRandom(0, 0, key, kShare).uniform() < share;
}

AugmentDraw draw_augment(const Augment& a, int width, int height, uint64_t key) {
  AugmentDraw draw;
  if (a.resized_crop())
    draw = draw_box(a, width, height, key);
  else
    draw.box = {0, 0, width, height};
  if (a.flip_p > 0) {
    KeyedRandom random(a, key, kFlipDraws);
    draw.flip = random.uniform() < a.flip_p;
  }
  return draw;
}

std::vector<uint64_t> shuffled_order(uint64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<uint64_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = i;
  KeyedRandom random(seed, epoch, 0, kShuffle);
  for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[random.below(i)]);
  return order;
}

ResizePlan make_box_plan(const CropBox& box, int out_w, int out_h, const ResampleMethod& method) {
  Placement placement;
  placement.resized_w = placement.out_w = out_w;
  placement.resized_h = placement.out_h = out_h;
  ResizePlan plan = make_resize_plan(box.width, box.height, box.width, box.height, placement,
                                     method);
  plan.x.rebase(-box.x);
  plan.y.rebase(-box.y);
  return plan;
}

void flip_horizontally(ResizePlan& plan) {
  AxisPlan& x = plan.x;
  const int n = x.size(), taps = x.taps;
  std::reverse(x.start.begin(), x.start.end());
  for (int i = 0; i < n / 2; ++i) {
    const int j = n - 1 - i;
    std::swap_ranges(x.weights.begin() + i * taps, x.weights.begin() + (i + 1) * taps,
                     x.weights.begin() + j * taps);
    if (!x.fixed.empty())
      std::swap_ranges(x.fixed.begin() + i * taps, x.fixed.begin() + (i + 1) * taps,
                       x.fixed.begin() + j * taps);
  }
}

}  // namespace imgprep

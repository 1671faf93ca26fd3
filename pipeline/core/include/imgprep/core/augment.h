// Seeded augmentation for training: torchvision's RandomResizedCrop (its algorithm for drawing
// the box: ten tries, then its fallback) and RandomHorizontalFlip. Every draw is keyed by (seed,
// epoch, the input's key), so an image's augmentation depends on nothing else: not on threads,
// order, batch size, prefetch depth or rank.
#pragma once

#include <cstdint>
#include <vector>

#include "imgprep/kernels/resample_plan.h"

namespace imgprep {

struct Augment {
  // RandomResizedCrop(size=(crop_h, crop_w), scale, ratio): off while crop_w is 0.
  int crop_w = 0, crop_h = 0;
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  double flip_p = 0;  // RandomHorizontalFlip(p)
  uint64_t seed = 0, epoch = 0;

  bool resized_crop() const { return crop_w > 0; }
  bool active() const { return resized_crop() || flip_p > 0; }
  bool operator==(const Augment&) const = default;
};

// A box of the upright source image, in its pixels.
struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
  bool operator==(const CropBox&) const = default;
};

struct AugmentDraw {
  CropBox box;            // the whole image when there is no resized crop
  bool flip = false;
  bool fallback = false;  // no try fitted: torchvision's central fallback box
};

// Whether the input whose key is `key` falls in a `share` (0..1) of all inputs, by a keyed draw of
// its own (no seed or epoch): a split of the inputs that no thread count or timing changes (the
// CPU's share of --decode gpu's JPEGs).
bool in_keyed_share(uint64_t key, double share);

// What augment draws for an image of width x height whose key is `key`.
AugmentDraw draw_augment(const Augment& augment, int width, int height, uint64_t key);

// 0 .. n-1 in the order of epoch `epoch` of a shuffle seeded with `seed` (Fisher-Yates on the
// same keyed random numbers as the augmentation): the same on every machine and version.
std::vector<uint64_t> shuffled_order(uint64_t n, uint64_t seed, uint64_t epoch);

// The plan that crops `box` out of the source and resizes it to out_w x out_h, reading no pixel
// outside the box (as torchvision's resized_crop: crop, then resize), in source coordinates.
ResizePlan make_box_plan(const CropBox& box, int out_w, int out_h, const ResampleMethod& method);

// Mirrors a plan's output left to right (as torchvision's hflip of its output).
void flip_horizontally(ResizePlan& plan);

}  // namespace imgprep

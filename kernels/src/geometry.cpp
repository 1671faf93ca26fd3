#include "imgprep/kernels/geometry.h"

#include <algorithm>
#include <cmath>

namespace imgprep {
namespace {

// Python's round(): half to even (the default floating-point rounding mode).
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

// torchvision.transforms.functional.center_crop, one axis.
int crop_offset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  return round_half_even((size - crop) / 2.0);
}

}  // namespace

Placement place(int src_w, int src_h, const ResizeSpec& resize, const CropSpec& crop) {
  Placement p;
  int w = src_w, h = src_h;
  switch (resize.mode) {
    case ResizeMode::none:
      break;
    case ResizeMode::shorter:
    case ResizeMode::longer: {
      const bool w_short = src_w <= src_h;
      const int s = std::min(src_w, src_h), l = std::max(src_w, src_h);
      if (resize.no_upscale && (resize.mode == ResizeMode::shorter ? s : l) <= resize.size) break;
      // Absurd aspect ratios are clamped rather than overflowing int.
      constexpr double kMaxSide = 1 << 30;
      int new_s, new_l;
      if (resize.mode == ResizeMode::shorter) {
        new_s = resize.size;
        new_l = static_cast<int>(std::min(static_cast<double>(resize.size) * l / s, kMaxSide));
      } else {
        new_l = resize.size;
        new_s = static_cast<int>(std::min(static_cast<double>(resize.size) * s / l, kMaxSide));
      }
      new_s = std::max(new_s, 1);
      new_l = std::max(new_l, 1);
      w = w_short ? new_s : new_l;
      h = w_short ? new_l : new_s;
      break;
    }
    case ResizeMode::stretch:
      w = resize.no_upscale ? std::min(resize.width, src_w) : resize.width;
      h = resize.no_upscale ? std::min(resize.height, src_h) : resize.height;
      break;
    case ResizeMode::letterbox: {
      const double r = std::min({static_cast<double>(resize.width) / src_w,
                                 static_cast<double>(resize.height) / src_h,
                                 resize.no_upscale ? 1.0 : HUGE_VAL});
      w = std::max(round_half_even(src_w * r), 1);
      h = std::max(round_half_even(src_h * r), 1);
      p.resized_w = w;
      p.resized_h = h;
      p.out_w = resize.width;
      p.out_h = resize.height;
      p.offset_x = -round_half_even((resize.width - w) / 2.0 - 0.1);
      p.offset_y = -round_half_even((resize.height - h) / 2.0 - 0.1);
      if (!crop.center) return p;
      // A crop after a letterbox crops the padded canvas.
      p.offset_x += crop_offset(p.out_w, crop.width);
      p.offset_y += crop_offset(p.out_h, crop.height);
      p.out_w = crop.width;
      p.out_h = crop.height;
      return p;
    }
  }
  p.resized_w = w;
  p.resized_h = h;
  p.out_w = w;
  p.out_h = h;
  if (crop.center) {
    p.offset_x = crop_offset(w, crop.width);
    p.offset_y = crop_offset(h, crop.height);
    p.out_w = crop.width;
    p.out_h = crop.height;
  }
  return p;
}

bool has_fixed_output_size(const ResizeSpec& resize, const CropSpec& crop) {
  return crop.center || (resize.mode == ResizeMode::stretch && !resize.no_upscale) ||
         resize.mode == ResizeMode::letterbox;
}

}  // namespace imgprep

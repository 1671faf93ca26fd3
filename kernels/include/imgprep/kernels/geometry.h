// Where a source image lands on the output canvas: resize rules and crop/letterbox offsets.
// All sizes in pixels. Pure functions, thread-safe.
#pragma once

namespace imgprep {

enum class ResizeMode { none, shorter, longer, stretch, letterbox };

struct ResizeSpec {
  ResizeMode mode = ResizeMode::none;
  int size = 0;    // shorter / longer
  int width = 0;   // stretch / letterbox
  int height = 0;
  bool no_upscale = false;  // shrink only, as ImageMagick's '>' ("shorter:256>", --no-upscale)
};

struct CropSpec {
  bool center = false;
  int width = 0;
  int height = 0;
};

// Output pixel (X, Y) shows resized pixel (X + offset_x, Y + offset_y); positions outside
// [0, resized_w) x [0, resized_h) show the pad value.
struct Placement {
  int resized_w = 0, resized_h = 0;
  int out_w = 0, out_h = 0;
  int offset_x = 0, offset_y = 0;
};

// Rounding follows the tools each mode is named after:
// shorter/longer: torchvision Resize(int) (long side truncated: int(S * long / short));
// crop: torchvision CenterCrop (offset round((in - crop) / 2) half-to-even, zero-padding split
//       (crop - in) // 2 on the left/top when the crop is larger);
// letterbox: Ultralytics LetterBox (inner size round(side * r), offsets round(d / 2 - 0.1)).
// no_upscale: shorter/longer leave an image whose short/long side is at most S as it is; WxH
// makes each side the smaller of the source's and the target's; letterbox scales by at most 1
// and pads the canvas as usual. A crop still has its size: larger than the image, it pads.
Placement place(int src_w, int src_h, const ResizeSpec& resize, const CropSpec& crop);

// True when the output size does not depend on the source size (needed to stack into shards).
bool has_fixed_output_size(const ResizeSpec& resize, const CropSpec& crop);

}  // namespace imgprep

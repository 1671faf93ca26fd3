// Separable resampling plans: for each output row/column, which source pixels it reads and with
// what weights. Computed once per image on the host and executed by the CPU engine and the CUDA
// kernels alike, so both produce the same numbers.
#pragma once

#include <cstdint>
#include <vector>

#include "imgprep/kernels/geometry.h"

namespace imgprep {

enum class Interp { nearest, linear, cubic, area, lanczos };

// antialias on:  Pillow's Image.resize (NEAREST, BILINEAR, BICUBIC a=-0.5, BOX, LANCZOS a=3):
//                the filter widens with the downscale factor; 8-bit intermediate between passes.
// antialias off: OpenCV's cv::resize (INTER_NEAREST, INTER_LINEAR, INTER_CUBIC a=-0.75,
//                INTER_AREA, INTER_LANCZOS4): fixed taps, replicated border.
struct ResampleMethod {
  Interp interp = Interp::linear;
  bool antialias = true;
};

// One axis. Output position i reads source pixels start[i] .. start[i] + taps - 1 with weights
// weights[i * taps + k]; start[i] < 0 marks a position that shows the pad value.
// start[i] + taps <= source size always holds (zero weights fill short windows).
struct AxisPlan {
  int taps = 0;
  std::vector<int> start;
  std::vector<float> weights;
  // Pillow's rounding (antialias on, except nearest): the same weights as Pillow's 22-bit
  // fixed-point integers, and a bound on |float sum - Pillow's exact sum| (see pillow_quantize).
  std::vector<int32_t> fixed;
  float tie_eps = 0;

  int size() const { return static_cast<int>(start.size()); }
  bool is_pad(int i) const { return start[i] < 0; }
  // Range of source indices any output position reads: [first_source, last_source).
  int first_source() const;
  int last_source() const;
  // Re-expresses the source indices relative to `origin` (for a decoded region).
  void rebase(int origin);
};

struct ResizePlan {
  AxisPlan x, y;
  // Pillow's arithmetic: both passes rounded to 8 bits as Pillow's fixed-point sums round.
  bool pillow_rounding = false;
};

// src_w/src_h: the decoded image's size. extent_w/extent_h: the part of it, in its own pixels,
// that corresponds to the full original image (smaller than src when a JPEG was decoded at 1/2,
// 1/4 or 1/8 and the scaled size was rounded up).
ResizePlan make_resize_plan(int src_w, int src_h, double extent_w, double extent_h,
                            const Placement& placement, const ResampleMethod& method);

}  // namespace imgprep

// What the GPU's JPEG decoder writes (interleaved RGB, a rectangle of the image as the file
// stores it, before its EXIF orientation) turned into what the resample kernel reads: RGBX rows
// of the upright image's window that the plan indexes. Pure data movement: every pixel is the
// one the CPU decoder's orientation (decoder.cpp, OpenCV's flips and rotations) puts there. The
// per-thread body runs on the host too (the tests, the fake CUDA runtime).
#pragma once

#include <cstdint>

#include "imgprep/kernels/hd.h"
#include "imgprep/kernels/launch_shape.h"

namespace imgprep {

// The stored pixel (x, y) that the upright pixel (u, v) shows, for an image stored width x height
// with EXIF orientation 1..8 (2 mirrors left-right, 3 turns 180 degrees, 4 mirrors top-bottom,
// 5 transposes, 6 turns 90 degrees clockwise, 7 transverses, 8 turns 90 degrees anticlockwise).
IMGPREP_HD inline void stored_point(int orientation, int width, int height, int u, int v, int& x,
                                    int& y) {
  switch (orientation) {
    case 2: x = width - 1 - u, y = v; return;
    case 3: x = width - 1 - u, y = height - 1 - v; return;
    case 4: x = u, y = height - 1 - v; return;
    case 5: x = v, y = u; return;
    case 6: x = v, y = height - 1 - u; return;
    case 7: x = width - 1 - v, y = height - 1 - u; return;
    case 8: x = width - 1 - v, y = u; return;
    default: x = u, y = v; return;
  }
}

struct PixelRect {
  int x = 0, y = 0, width = 0, height = 0;
};

// The rectangle of the stored image that holds the upright `window`.
PixelRect stored_rect(int orientation, int width, int height, const PixelRect& window);

// One image: the upright window (u0, v0, dst_w x dst_h) of an image stored stored_w x stored_h,
// read from the decoded rectangle at (x0, y0) of the stored image.
struct UprightImage {
  uint64_t src = 0;  // the decoded rectangle in UprightView::src: RGB, rows of src_pitch bytes
  uint64_t dst = 0;  // the window in UprightView::dst: RGBX, rows of dst_w * 4 bytes
  int src_pitch = 0;
  int x0 = 0, y0 = 0;
  int stored_w = 0, stored_h = 0;
  int orientation = 1;
  int u0 = 0, v0 = 0, dst_w = 0, dst_h = 0;
};

struct UprightView {
  const UprightImage* images = nullptr;
  int count = 0;
  int max_w = 0, max_h = 0;  // the widest and tallest window
  const uint8_t* src = nullptr;
  uint8_t* dst = nullptr;
};

IMGPREP_HD inline void upright_pixel(const UprightImage& im, const UprightView& view, int u,
                                     int v) {
  int x = 0, y = 0;
  stored_point(im.orientation, im.stored_w, im.stored_h, im.u0 + u, im.v0 + v, x, y);
  const uint8_t* s = view.src + im.src + static_cast<uint64_t>(y - im.y0) * im.src_pitch +
                     static_cast<uint64_t>(x - im.x0) * 3;
  uint8_t* d = view.dst + im.dst + (static_cast<uint64_t>(v) * im.dst_w + u) * 4;
  d[0] = s[0];
  d[1] = s[1];
  d[2] = s[2];
  d[3] = 255;
}

inline LaunchShape upright_launch_shape(const UprightView& view) {
  return batch_launch_shape(static_cast<uint64_t>(view.max_w), static_cast<uint64_t>(view.max_h),
                            static_cast<uint64_t>(view.count));
}

// Everything thread `thread` of block `block` does in a launch of `shape`: the kernel's body.
IMGPREP_HD inline void upright_thread(const UprightView& view, const LaunchShape& shape,
                                      LaunchDim block, LaunchDim thread) {
  const uint64_t step_x = uint64_t{shape.grid.x} * shape.block.x;
  const uint64_t step_y = uint64_t{shape.grid.y} * shape.block.y;
  for (uint64_t i = block.z; i < static_cast<uint64_t>(view.count); i += shape.grid.z) {
    const UprightImage& im = view.images[i];
    for (uint64_t v = uint64_t{block.y} * shape.block.y + thread.y;
         v < static_cast<uint64_t>(im.dst_h); v += step_y)
      for (uint64_t u = uint64_t{block.x} * shape.block.x + thread.x;
           u < static_cast<uint64_t>(im.dst_w); u += step_x)
        upright_pixel(im, view, static_cast<int>(u), static_cast<int>(v));
  }
}

// The whole view on the host, pixel by pixel: the reference.
void upright_on_host(const UprightView& view);

// Launching it on a view whose images, pixels and windows sit in device memory (built only with
// the CUDA tier). Enqueues on `stream` (a cudaStream_t); returns the launch error's text, or
// nullptr.
const char* launch_upright(const UprightView& view, void* stream);

}  // namespace imgprep

// A batch of images for the fused resample + crop + channel order + normalise + layout + dtype
// step: flat tables of every image's plan and buffer offsets, built on the host and read by the
// CUDA kernel (or by the host reference, which runs the kernel's per-pixel maths on the CPU).
// BatchTables is not thread-safe; the run functions are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "imgprep/kernels/launch_shape.h"
#include "imgprep/kernels/output_spec.h"
#include "imgprep/kernels/pixel4.h"
#include "imgprep/kernels/resample_pixel.h"
#include "imgprep/kernels/resample_plan.h"

namespace imgprep {

// One image of a batch. Offsets are in bytes (src, out) or table entries (the rest), 64-bit:
// a batch's pixels, tensors and tables may each exceed 4 GiB.
struct BatchImage {
  uint64_t src = 0;  // its RGBX pixels, rows of src_w * 4 bytes
  int src_w = 0, src_h = 0;
  uint64_t out = 0;  // its tensor
  int out_w = 0, out_h = 0;
  uint64_t x_starts = 0, y_starts = 0;    // into BatchTables::starts
  uint64_t x_weights = 0, y_weights = 0;  // into BatchTables::weights and ::fixed
  int x_taps = 0, y_taps = 0;
  int pillow_rounding = 0;
  float x_tie_eps = 0, y_tie_eps = 0;
};

struct BatchView;

class BatchTables {
 public:
  // Alignment of every image's pixels and tensor in the batch buffers.
  static constexpr uint64_t kAlign = 256;

  void clear();
  // Adds an image whose decoded pixels (src_w x src_h RGBX) the plan indexes, with an output of
  // out_w x out_h in `format`. Returns the image's entry (its src/out offsets tell the caller
  // where to put its pixels and find its tensor).
  BatchImage add(int src_w, int src_h, const ResizePlan& plan, int out_w, int out_h,
                 const OutputSpec& format);

  // A batch travels to the device as one staging block: the pixels (each image's at its src
  // offset), then the tables. These give the block's size, write the tables into it (the
  // caller copies the pixels), and view a device copy of it as the kernel reads it.
  uint64_t staging_bytes() const;
  void pack_tables(uint8_t* staging) const;
  // The kernel's view of a staging block copied to `staging` on the device, writing its
  // tensors to `out` there.
  BatchView device_view(const uint8_t* staging, uint8_t* out) const;
  // The same batch with its tables in host memory (these vectors), its pixels at `src` and its
  // tensors written to `out`.
  BatchView host_view(const uint8_t* src, uint8_t* out) const;

  const std::vector<BatchImage>& images() const { return images_; }
  const std::vector<int32_t>& starts() const { return starts_; }
  const std::vector<float>& weights() const { return weights_; }
  const std::vector<int32_t>& fixed() const { return fixed_; }  // parallel to weights()
  uint64_t src_bytes() const { return src_bytes_; }
  uint64_t out_bytes() const { return out_bytes_; }
  int max_out_w() const { return max_out_w_; }
  int max_out_h() const { return max_out_h_; }

 private:
  std::vector<BatchImage> images_;
  std::vector<int32_t> starts_;
  std::vector<float> weights_;
  std::vector<int32_t> fixed_;
  // Offsets of the tables in the staging block.
  uint64_t images_at() const;
  uint64_t starts_at() const;
  uint64_t weights_at() const;
  uint64_t fixed_at() const;
  uint64_t src_bytes_ = 0, out_bytes_ = 0;
  int max_out_w_ = 0, max_out_h_ = 0;
};

// The kernel's maths on the CPU, pixel by pixel: src and out are the batch buffers laid out as
// the tables say. `format` gives layout, dtype, channel order, normalisation and pad value.
void resample_batch_on_host(const BatchTables& tables, const OutputSpec& format,
                            const uint8_t* src, uint8_t* out);

// Pointers to a batch laid out as BatchTables describes it: in device memory for the kernel
// (BatchTables::device_view), in host memory for the host reference (BatchTables::host_view).
struct BatchView {
  const uint8_t* src = nullptr;
  const BatchImage* images = nullptr;
  const int32_t* starts = nullptr;
  const float* weights = nullptr;
  const int32_t* fixed = nullptr;
  uint8_t* out = nullptr;
  int image_count = 0;
  int max_out_w = 0, max_out_h = 0;
};

// Output pixel (X, Y) of one image of a batch: the per-pixel body of the kernel and of the host
// reference. Every offset is computed in 64 bits.
IMGPREP_HD inline void resample_batch_pixel(const BatchImage& image, const BatchView& batch,
                                            const OutputSpec& format, int X, int Y) {
  const OutputSpec spec = format.sized(image.out_w, image.out_h);
  const int sx = batch.starts[image.x_starts + static_cast<uint64_t>(X)];
  const int sy = batch.starts[image.y_starts + static_cast<uint64_t>(Y)];
  float q[3] = {spec.pad_value, spec.pad_value, spec.pad_value};
  if (sx >= 0 && sy >= 0) {
    const uint32_t* pixels = reinterpret_cast<const uint32_t*>(batch.src + image.src);
    const uint64_t stride = static_cast<uint64_t>(image.src_w);
    const uint64_t wx = image.x_weights + static_cast<uint64_t>(X) * image.x_taps;
    const uint64_t wy = image.y_weights + static_cast<uint64_t>(Y) * image.y_taps;
    const bool pillow = image.pillow_rounding != 0;
    const PlanTaps x{sx, batch.weights + wx, image.x_taps, pillow ? batch.fixed + wx : nullptr,
                     image.x_tie_eps};
    const PlanTaps y{sy, batch.weights + wy, image.y_taps, pillow ? batch.fixed + wy : nullptr,
                     image.y_tie_eps};
    const Pixel4 p = resample_pixel<Pixel4>(
        [pixels, stride](int px, int py) {
          return unpack_rgbx(pixels[static_cast<uint64_t>(py) * stride + static_cast<uint64_t>(px)]);
        },
        x, y);
    for (int c = 0; c < 3; ++c) q[c] = p.v[spec.source_lane(c)];
  }
  for (int c = 0; c < 3; ++c) store_output(spec, batch.out + image.out, X, Y, c, q[c]);
}

// How the kernel is launched over a batch (launch_shape.h): any output size and batch size.
LaunchShape resample_launch_shape(const BatchView& batch);

// Everything thread `thread` of block `block` computes in a launch of `shape`: the kernel's body,
// also run by the fake CUDA runtime's launch.
IMGPREP_HD inline void resample_batch_thread(const BatchView& batch, const OutputSpec& format,
                                             const LaunchShape& shape, LaunchDim block,
                                             LaunchDim thread) {
  const uint64_t step_x = uint64_t{shape.grid.x} * shape.block.x;
  const uint64_t step_y = uint64_t{shape.grid.y} * shape.block.y;
  for (uint64_t i = block.z; i < static_cast<uint64_t>(batch.image_count); i += shape.grid.z) {
    const BatchImage& image = batch.images[i];
    for (uint64_t Y = uint64_t{block.y} * shape.block.y + thread.y;
         Y < static_cast<uint64_t>(image.out_h); Y += step_y)
      for (uint64_t X = uint64_t{block.x} * shape.block.x + thread.x;
           X < static_cast<uint64_t>(image.out_w); X += step_x)
        resample_batch_pixel(image, batch, format, static_cast<int>(X), static_cast<int>(Y));
  }
}

}  // namespace imgprep

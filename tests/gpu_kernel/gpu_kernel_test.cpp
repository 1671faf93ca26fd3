// The CUDA kernel on a real device against the host reference of the same per-pixel maths
// (which gpu_maths_test holds equal to the CPU engine): identical bytes, for every option set the
// kernel has (interpolation x antialias, i.e. Pillow's and OpenCV's rounding, x dtype x layout x
// channel order x resize mode), plus the launch geometry's edge cases (outputs taller than the
// grid's y limit, more images than its z limit). Each batch goes to the device as the engine
// sends it: one staging block (BatchTables), one copy. Skipped, with the reason, where no CUDA
// device is usable.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "imgprep/kernels/resample_batch_cuda.h"

namespace imgprep {
namespace {

std::string device_problem() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) return cudaGetErrorString(error);
  if (count == 0) return "no CUDA device";
  if (const char* problem = resample_kernel_unavailable()) return problem;
  return "";
}

#define SKIP_WITHOUT_DEVICE()                                               \
  if (const std::string problem = device_problem(); !problem.empty())      \
  GTEST_SKIP() << "no usable CUDA device: " << problem

constexpr const char* kInterpNames[] = {"nearest", "linear", "cubic", "area", "lanczos"};
constexpr Interp kInterps[] = {Interp::nearest, Interp::linear, Interp::cubic, Interp::area,
                               Interp::lanczos};
constexpr const char* kDTypeNames[] = {"float32", "float16", "uint8"};
constexpr DType kDTypes[] = {DType::float32, DType::float16, DType::uint8};

// One image of a batch: its size, where it lands, and the decoded extent (smaller than the
// source for a JPEG decoded at a reduced scale and rounded up).
struct Source {
  int w, h;
  double extent_shrink = 0;  // extent = size - extent_shrink
};

// The option set of one batch, for the failure messages.
struct Options {
  Interp interp = Interp::linear;
  bool antialias = true;
  DType dtype = DType::float32;
  Layout layout = Layout::nchw;
  bool bgr = false;
  const char* geometry = "";

  std::string text() const {
    std::ostringstream s;
    s << kInterpNames[static_cast<int>(interp)] << (antialias ? " antialias(Pillow)" : " opencv")
      << ' ' << kDTypeNames[static_cast<int>(dtype)]
      << (layout == Layout::nchw ? " nchw" : " nhwc") << (bgr ? " bgr" : " rgb") << ' '
      << geometry;
    return s.str();
  }
};

OutputSpec output_format(const Options& o, float pad_value) {
  OutputSpec format;
  format.dtype = o.dtype;
  format.layout = o.layout;
  format.bgr = o.bgr;
  format.pad_value = pad_value;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    format.norm.scale[c] = 1.f / 255.f;
    format.norm.mean[c] = mean[c];
    format.norm.std[c] = std[c];
  }
  return format;
}

// A device allocation freed on scope exit.
struct DeviceBuffer {
  void* p = nullptr;
  cudaError_t error;
  explicit DeviceBuffer(size_t bytes) : error(cudaMalloc(&p, std::max<size_t>(bytes, 1))) {}
  ~DeviceBuffer() { cudaFree(p); }
  uint8_t* bytes() const { return static_cast<uint8_t*>(p); }
};

// Runs a batch on the device and on the host and compares the tensors byte for byte. Returns ""
// when equal, else one line per differing image (at most a few) naming the options.
std::string run_and_compare(const BatchTables& tables, const OutputSpec& format,
                            const std::vector<std::vector<uint8_t>>& pixels,
                            const std::string& options) {
  std::vector<uint8_t> staging(tables.staging_bytes());
  for (size_t i = 0; i < pixels.size(); ++i)
    std::memcpy(staging.data() + tables.images()[i].src, pixels[i].data(), pixels[i].size());
  tables.pack_tables(staging.data());
  std::vector<uint8_t> expected(tables.out_bytes()), actual(tables.out_bytes(), 0xA5);
  resample_batch_on_host(tables, format, staging.data(), expected.data());

  DeviceBuffer device_staging(staging.size()), device_out(tables.out_bytes());
  if (device_staging.error != cudaSuccess || device_out.error != cudaSuccess)
    return options + ": cudaMalloc: " +
           cudaGetErrorString(device_staging.error != cudaSuccess ? device_staging.error
                                                                  : device_out.error);
  cudaError_t error = cudaMemcpy(device_staging.p, staging.data(), staging.size(),
                                 cudaMemcpyHostToDevice);
  if (error != cudaSuccess) return options + ": upload: " + cudaGetErrorString(error);
  const BatchView view = tables.device_view(device_staging.bytes(), device_out.bytes());
  if (const char* launch = launch_resample_batch(view, format, nullptr))
    return options + ": launch: " + launch;
  error = cudaDeviceSynchronize();
  if (error != cudaSuccess) return options + ": kernel: " + cudaGetErrorString(error);
  error = cudaMemcpy(actual.data(), device_out.p, actual.size(), cudaMemcpyDeviceToHost);
  if (error != cudaSuccess) return options + ": download: " + cudaGetErrorString(error);

  std::ostringstream failures;
  int reported = 0, differing_images = 0;
  for (size_t i = 0; i < tables.images().size(); ++i) {
    const BatchImage& im = tables.images()[i];
    const size_t bytes = static_cast<size_t>(im.out_w) * im.out_h * 3 * format.element_size();
    size_t first = bytes, count = 0;
    for (size_t k = 0; k < bytes; ++k)
      if (expected[im.out + k] != actual[im.out + k]) {
        if (first == bytes) first = k;
        ++count;
      }
    if (count == 0) continue;
    ++differing_images;
    if (reported++ < 3)
      failures << options << ": image " << i << " (" << im.src_w << 'x' << im.src_h << " -> "
               << im.out_w << 'x' << im.out_h << "): first differing byte " << first << ", "
               << count << " of " << bytes << " bytes differ (host "
               << int{expected[im.out + first]} << ", device " << int{actual[im.out + first]}
               << ")\n";
  }
  if (differing_images > reported)
    failures << options << ": " << differing_images << " images differ in all\n";
  return failures.str();
}

std::vector<uint8_t> random_pixels(std::mt19937& rng, int w, int h) {
  std::vector<uint8_t> img(static_cast<size_t>(w) * h * 4);
  for (uint8_t& v : img) v = static_cast<uint8_t>(rng());
  return img;
}

// Adds an image to the batch as the engine does: placement, plan, output size.
void add_image(BatchTables& tables, std::vector<std::vector<uint8_t>>& pixels, std::mt19937& rng,
               const Source& s, const ResizeSpec& resize, const CropSpec& crop,
               const ResampleMethod& method, const OutputSpec& format) {
  const Placement p = place(s.w, s.h, resize, crop);
  tables.add(s.w, s.h,
             make_resize_plan(s.w, s.h, s.w - s.extent_shrink, s.h - s.extent_shrink, p, method),
             p.out_w, p.out_h, format);
  pixels.push_back(random_pixels(rng, s.w, s.h));
}

// The resize modes the command has, each with its output rule.
struct Geometry {
  const char* name;
  ResizeSpec resize;
  CropSpec crop;
  float pad_value;
};
const Geometry kGeometries[] = {
    {"stretch 41x29", {ResizeMode::stretch, 0, 41, 29}, {}, 0},
    {"shorter 32 + centre crop 24x24", {ResizeMode::shorter, 32}, {true, 24, 24}, 0},
    {"letterbox 41x29 pad 114", {ResizeMode::letterbox, 0, 41, 29}, {}, 114},
    {"shorter 16 + padding centre crop 40x36", {ResizeMode::shorter, 16}, {true, 40, 36}, 7},
    {"longer 30 no-upscale", {ResizeMode::longer, 30, 0, 0, true}, {}, 0},
};

// Sources: degenerate, odd, tall, large downscales both ways, one with a reduced-scale extent.
const Source kSources[] = {{1, 1}, {7, 5}, {3, 97}, {500, 375}, {375, 500}, {64, 64},
                           {250, 188, 0.375}};

TEST(GpuKernel, EveryOptionSetMatchesTheHostReference) {
  SKIP_WITHOUT_DEVICE();
  std::mt19937 rng(7);
  std::string failures;
  int cases = 0;
  for (const Geometry& g : kGeometries)
    for (int i = 0; i < 5; ++i)
      for (bool antialias : {true, false})
        for (DType dtype : kDTypes)
          for (Layout layout : {Layout::nchw, Layout::nhwc})
            for (bool bgr : {false, true}) {
              const Options o{kInterps[i], antialias, dtype, layout, bgr, g.name};
              const OutputSpec format = output_format(o, g.pad_value);
              BatchTables tables;
              std::vector<std::vector<uint8_t>> pixels;
              for (const Source& s : kSources)
                add_image(tables, pixels, rng, s, g.resize, g.crop, {o.interp, antialias}, format);
              failures += run_and_compare(tables, format, pixels, o.text());
              ++cases;
            }
  EXPECT_EQ(failures, "") << "in " << cases << " option sets";
  std::printf("[   INFO   ] %d option sets compared\n", cases);
}

// Outputs far taller than 65,535 blocks of rows: the kernel loops over rows.
TEST(GpuKernel, OutputsTallerThanTheGridMatch) {
  SKIP_WITHOUT_DEVICE();
  std::mt19937 rng(11);
  struct Tall {
    Source source;
    int out_w, out_h;
  };
  const Tall talls[] = {{{3, 7}, 1, 600000}, {{5, 4}, 2, 600001}, {{2, 2}, 1, 2200000}};
  std::string failures;
  for (const Tall& t : talls)
    for (Interp interp : {Interp::nearest, Interp::linear, Interp::lanczos})
      for (bool antialias : {true, false}) {
        Options o{interp, antialias, t.out_h > 1000000 ? DType::uint8 : DType::float32,
                  Layout::nchw, false, ""};
        const std::string name = "stretch " + std::to_string(t.source.w) + "x" +
                                 std::to_string(t.source.h) + " to " + std::to_string(t.out_w) +
                                 "x" + std::to_string(t.out_h);
        o.geometry = name.c_str();
        const OutputSpec format = output_format(o, 0);
        BatchTables tables;
        std::vector<std::vector<uint8_t>> pixels;
        add_image(tables, pixels, rng, t.source, {ResizeMode::stretch, 0, t.out_w, t.out_h}, {},
                  {interp, antialias}, format);
        failures += run_and_compare(tables, format, pixels, o.text());
      }
  EXPECT_EQ(failures, "");
}

// More images in one batch than the grid's z limit (65,535), each tiny, of varied sizes.
TEST(GpuKernel, ManyTinyImagesMatch) {
  SKIP_WITHOUT_DEVICE();
  std::mt19937 rng(13);
  std::string failures;
  for (DType dtype : {DType::float32, DType::uint8}) {
    const Options o{Interp::linear, true, dtype, Layout::nhwc, true, "70,000 tiny letterboxes"};
    const OutputSpec format = output_format(o, 114);
    BatchTables tables;
    std::vector<std::vector<uint8_t>> pixels;
    for (int i = 0; i < 70000; ++i) {
      const Source s{1 + i % 4, 1 + (i / 4) % 3};
      add_image(tables, pixels, rng, s, {ResizeMode::letterbox, 0, 3 + i % 2, 2 + i % 3}, {},
                {o.interp, o.antialias}, format);
    }
    failures += run_and_compare(tables, format, pixels, o.text());
  }
  EXPECT_EQ(failures, "");
}

}  // namespace
}  // namespace imgprep

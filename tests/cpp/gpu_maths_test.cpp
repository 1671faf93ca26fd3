// The GPU kernel's per-pixel maths, run on the host (resample_batch_on_host), against the CPU
// engine's resampler: identical bytes for the sample set and synthetic sizes, in every
// interpolation mode, dtype, layout and channel order. This is what CPU/GPU parity rests on; the
// CUDA kernel calls the same per-pixel function.
#include <gtest/gtest.h>

#include <random>

#include "imgprep/datasets/input_list.h"
#include "imgprep/kernels/resample_batch.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/engines/read_pool.h"
#include "imgprep/core/resampler.h"
#include "test_support.h"

namespace imgprep {
namespace {

struct Case {
  ResampleMethod method;
  ResizeSpec resize;
  CropSpec crop;
};

OutputSpec format_of(DType dtype, Layout layout, bool bgr) {
  OutputSpec s;
  s.dtype = dtype;
  s.layout = layout;
  s.bgr = bgr;
  s.pad_value = 114;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    s.norm.scale[c] = 1.f / 255.f;
    s.norm.mean[c] = mean[c];
    s.norm.std[c] = std[c];
  }
  return s;
}

// Resamples every image on the CPU engine and, as one batch, through the kernel's maths on the
// host; returns how many images differed (and reports the first difference).
int compare(const std::vector<DecodedImage>& images, const Case& c, const OutputSpec& format) {
  BatchTables tables;
  std::vector<std::vector<uint8_t>> cpu(images.size());
  std::vector<ResizePlan> plans;
  Resampler resampler;
  for (size_t i = 0; i < images.size(); ++i) {
    const DecodedImage& img = images[i];
    const Placement p = place(img.width, img.height, c.resize, c.crop);
    const ResizePlan plan = make_resize_plan(img.width, img.height, img.width, img.height, p,
                                             c.method);
    const OutputSpec spec = format.sized(p.out_w, p.out_h);
    cpu[i].resize(spec.bytes());
    resampler.run(img, plan, spec, cpu[i].data());
    tables.add(img.width, img.height, plan, p.out_w, p.out_h, format);
  }
  std::vector<uint8_t> src(tables.src_bytes()), out(tables.out_bytes(), 0xAB);
  for (size_t i = 0; i < images.size(); ++i)
    std::copy(images[i].pixels.begin(), images[i].pixels.end(),
              src.begin() + static_cast<long>(tables.images()[i].src));
  resample_batch_on_host(tables, format, src.data(), out.data());
  int differing = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const uint8_t* gpu = out.data() + tables.images()[i].out;
    const auto mismatch = std::mismatch(cpu[i].begin(), cpu[i].end(), gpu);
    if (mismatch.first != cpu[i].end()) {
      if (differing++ == 0)
        ADD_FAILURE() << "image " << i << " (" << images[i].width << "x" << images[i].height
                      << ") differs at byte " << (mismatch.first - cpu[i].begin());
    }
  }
  return differing;
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  const ResizeSpec shorter{ResizeMode::shorter, 37, 0, 0};
  const ResizeSpec stretch_up{ResizeMode::stretch, 0, 61, 23};
  const ResizeSpec letterbox{ResizeMode::letterbox, 0, 40, 40};
  const CropSpec crop{true, 31, 29};
  for (Interp interp : {Interp::nearest, Interp::linear, Interp::cubic, Interp::area, Interp::lanczos})
    for (bool antialias : {true, false}) {
      const ResampleMethod m{interp, antialias};
      cases.push_back({m, shorter, crop});
      cases.push_back({m, stretch_up, {}});
      cases.push_back({m, letterbox, {}});
    }
  return cases;
}

DecodedImage synthetic(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  DecodedImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(static_cast<size_t>(w) * h * 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 4; ++c)  // gradients with noise and a hard edge
        img.pixels[(static_cast<size_t>(y) * w + x) * 4 + c] = static_cast<uint8_t>(
            (x * 255 / std::max(w - 1, 1) + c * 60 + (x > w / 2 ? 90 : 0) + rng() % 32) & 0xff);
  return img;
}

TEST(GpuMaths, SyntheticSizesInEveryModeDtypeAndLayout) {
  std::vector<DecodedImage> images;
  const int sizes[][2] = {{1, 1}, {2, 3}, {7, 5}, {3, 97}, {97, 3}, {33, 17}, {500, 375}, {16, 16}};
  uint32_t seed = 1;
  for (const auto& s : sizes) images.push_back(synthetic(s[0], s[1], seed++));
  for (const Case& c : all_cases())
    for (DType dtype : {DType::float32, DType::float16, DType::uint8})
      for (Layout layout : {Layout::nchw, Layout::nhwc})
        for (bool bgr : {false, true}) {
          SCOPED_TRACE(std::string(to_string(c.method.interp)) +
                       (c.method.antialias ? " antialias" : "") + " resize mode " +
                       std::to_string(static_cast<int>(c.resize.mode)));
          EXPECT_EQ(compare(images, c, format_of(dtype, layout, bgr)), 0);
        }
}

TEST(GpuMaths, SampleSetWithEveryPreset) {
  const InputList list = list_inputs(test::source_dir() / "datasets/sample");
  std::vector<DecodedImage> images;
  Decoder decoder;
  for (const InputItem& item : list.items) {
    Bytes bytes;
    if (!read_file(item.path, bytes).empty()) continue;
    DecodedImage img;
    decoder.decode(bytes, DecodeOptions{}, img);
    images.push_back(std::move(img));
  }
  ASSERT_GE(images.size(), 15u);
  const Case presets[] = {
      {{Interp::linear, true}, {ResizeMode::shorter, 256, 0, 0}, {true, 224, 224}},
      {{Interp::cubic, true}, {ResizeMode::shorter, 224, 0, 0}, {true, 224, 224}},
      {{Interp::linear, false}, {ResizeMode::letterbox, 0, 640, 640}, {}},
  };
  for (const Case& c : presets) EXPECT_EQ(compare(images, c, format_of(DType::float32, Layout::nchw, false)), 0);
}

}  // namespace
}  // namespace imgprep

// The CUDA kernel on a real device against the host reference of the same per-pixel maths
// (which gpu_maths_test holds equal to the CPU engine): identical bytes. Skipped, with the
// reason, where no CUDA device is usable.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>

#include "imgprep/kernels/resample_batch_cuda.h"

namespace imgprep {
namespace {

std::string device_problem() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) return cudaGetErrorString(error);
  return count > 0 ? "" : "no CUDA device";
}

TEST(GpuKernel, MatchesTheHostReferenceBitForBit) {
  if (const std::string problem = device_problem(); !problem.empty())
    GTEST_SKIP() << "no usable CUDA device: " << problem;
  std::mt19937 rng(7);
  BatchTables tables;
  OutputSpec format;
  format.pad_value = 114;
  for (int c = 0; c < 3; ++c) {
    format.norm.scale[c] = 1.f / 255.f;
    format.norm.mean[c] = 0.45f;
    format.norm.std[c] = 0.226f;
  }
  std::vector<std::vector<uint8_t>> pixels;
  const int sizes[][2] = {{1, 1}, {7, 5}, {3, 97}, {500, 375}, {375, 500}, {64, 64}};
  for (DType dtype : {DType::float32, DType::float16, DType::uint8})
    for (Layout layout : {Layout::nchw, Layout::nhwc})
      for (Interp interp : {Interp::nearest, Interp::linear, Interp::cubic, Interp::area, Interp::lanczos})
        for (bool antialias : {true, false}) {
          format.dtype = dtype;
          format.layout = layout;
          tables.clear();
          pixels.clear();
          for (const auto& s : sizes) {
            std::vector<uint8_t> img(static_cast<size_t>(s[0]) * s[1] * 4);
            for (uint8_t& v : img) v = static_cast<uint8_t>(rng());
            const Placement p = place(s[0], s[1], {ResizeMode::letterbox, 0, 41, 29}, {});
            tables.add(s[0], s[1], make_resize_plan(s[0], s[1], s[0], s[1], p, {interp, antialias}),
                       p.out_w, p.out_h, format);
            pixels.push_back(std::move(img));
          }
          std::vector<uint8_t> src(tables.src_bytes());
          for (size_t i = 0; i < pixels.size(); ++i)
            std::copy(pixels[i].begin(), pixels[i].end(), src.begin() + static_cast<long>(tables.images()[i].src));
          std::vector<uint8_t> expected(tables.out_bytes()), actual(tables.out_bytes());
          resample_batch_on_host(tables, format, src.data(), expected.data());

          auto upload = [](const auto& v) {
            void* d = nullptr;
            const size_t bytes = v.size() * sizeof(v[0]);
            EXPECT_EQ(cudaMalloc(&d, std::max<size_t>(bytes, 1)), cudaSuccess);
            EXPECT_EQ(cudaMemcpy(d, v.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
            return d;
          };
          DeviceBatch b;
          b.src = static_cast<const uint8_t*>(upload(src));
          b.images = static_cast<const BatchImage*>(upload(tables.images()));
          b.starts = static_cast<const int32_t*>(upload(tables.starts()));
          b.weights = static_cast<const float*>(upload(tables.weights()));
          b.fixed = static_cast<const int32_t*>(upload(tables.fixed()));
          void* out = nullptr;
          ASSERT_EQ(cudaMalloc(&out, tables.out_bytes()), cudaSuccess);
          b.out = static_cast<uint8_t*>(out);
          b.image_count = static_cast<int>(tables.images().size());
          b.max_out_w = tables.max_out_w();
          b.max_out_h = tables.max_out_h();
          ASSERT_EQ(launch_resample_batch(b, format, nullptr), nullptr);
          ASSERT_EQ(cudaMemcpy(actual.data(), out, actual.size(), cudaMemcpyDeviceToHost), cudaSuccess);
          const void* allocations[] = {b.src, b.images, b.starts, b.weights, b.fixed, out};
          for (const void* p : allocations) cudaFree(const_cast<void*>(p));
          for (const BatchImage& im : tables.images()) {
            const size_t bytes = static_cast<size_t>(im.out_w) * im.out_h * 3 * format.element_size();
            EXPECT_TRUE(std::equal(expected.begin() + static_cast<long>(im.out),
                                   expected.begin() + static_cast<long>(im.out + bytes),
                                   actual.begin() + static_cast<long>(im.out)))
                << "interp " << static_cast<int>(interp) << (antialias ? " antialias" : "")
                << " image " << im.src_w
                << "x" << im.src_h;
          }
        }
}

}  // namespace
}  // namespace imgprep

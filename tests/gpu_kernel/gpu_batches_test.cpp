// The training loader's GPU batches on a real device: BatchStream with batch buffers in device
// memory (the GPU engine keeps each tensor there and the batch is put together there) against
// BatchStream on the CPU engine, the bytes read back from the device. What the Python loader's
// device="cuda" hands to torch by DLPack is this memory. Skips, with the reason, where no CUDA
// device is usable; runs without a GPU on the fake runtime in tests/gpu_fake.
// The inputs: the folder in IMGPREP_SAMPLE (datasets/sample).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "imgprep/core/output_options.h"
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/imgprep.h"

namespace imgprep {
namespace {

struct HostBatch {
  std::vector<uint8_t> bytes;
  std::vector<int64_t> labels;
  std::vector<size_t> failed;
};

std::vector<InputItem> sample_inputs() {
  const char* folder = std::getenv("IMGPREP_SAMPLE");
  if (!folder) throw std::runtime_error("IMGPREP_SAMPLE is not set");
  std::vector<InputItem> items = list_inputs(folder).items;
  for (size_t i = 0; i < items.size(); ++i) items[i].key = i;
  return items;
}

Options options_for(const std::string& engine, bool augment) {
  // GPU batches of 4 against loader batches of 5: neither lines up with the other.
  std::vector<Override> overrides = {{"engine", engine}};
  if (engine == "gpu") overrides.push_back({"batch", "4"});
  Options o = resolve_config("imagenet", overrides, ConfigFor::run);
  if (augment) {  // RandomResizedCrop(64) and RandomHorizontalFlip, as the loader sets them
    o.augment = Augment{64, 64, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, 0.5, 11, 2};
    o.resize = ResizeSpec{};
    o.crop = CropSpec{};
  }
  validate(o);
  return o;
}

std::vector<HostBatch> batches(const Options& options, int device) {
  const size_t bytes = make_output_spec(options).bytes();
  BatchStream stream(sample_inputs(), options, 5, 2, std::make_shared<BatchBuffers>(4, device));
  std::vector<HostBatch> out;
  while (std::optional<Batch> batch = stream.next()) {
    EXPECT_EQ(batch->device, device);
    HostBatch host;
    host.bytes.resize(batch->count * bytes);
    if (device >= 0) {
      if (!host.bytes.empty()) {
        EXPECT_EQ(cudaMemcpy(host.bytes.data(), batch->tensors.get(), host.bytes.size(),
                             cudaMemcpyDeviceToHost),
                  cudaSuccess);
      }
      cudaPointerAttributes attributes{};
      EXPECT_EQ(cudaPointerGetAttributes(&attributes, batch->tensors.get()), cudaSuccess);
      EXPECT_EQ(attributes.type, cudaMemoryTypeDevice);
    } else {
      std::memcpy(host.bytes.data(), batch->tensors.get(), host.bytes.size());
    }
    host.labels = batch->labels;
    for (const Batch::Failure& f : batch->failed) host.failed.push_back(f.index);
    out.push_back(std::move(host));
  }
  return out;
}

class GpuBatches : public testing::TestWithParam<bool> {};

TEST_P(GpuBatches, EqualTheCpuEnginesBatches) {
  const GpuProbe probe = probe_gpu(0);
#ifdef IMGPREP_REQUIRE_GPU  // the build on the fake runtime, which always has its device
  ASSERT_TRUE(probe.usable) << probe.description;
#else
  if (!probe.usable) GTEST_SKIP() << "no usable CUDA device: " << probe.description;
#endif
  const bool augment = GetParam();
  const std::vector<HostBatch> gpu = batches(options_for("gpu", augment), 0);
  const std::vector<HostBatch> cpu = batches(options_for("cpu", augment), -1);
  ASSERT_EQ(gpu.size(), cpu.size());
  size_t images = 0;
  for (size_t b = 0; b < gpu.size(); ++b) {
    EXPECT_TRUE(gpu[b].bytes == cpu[b].bytes) << "batch " << b;
    EXPECT_EQ(gpu[b].labels, cpu[b].labels);
    EXPECT_EQ(gpu[b].failed, cpu[b].failed);
    images += gpu[b].labels.size();
  }
  EXPECT_GT(images, 0u);
}

INSTANTIATE_TEST_SUITE_P(CentreCropAndAugmented, GpuBatches, testing::Values(false, true));

}  // namespace
}  // namespace imgprep

// The kernel's indexing at the sizes where 32-bit arithmetic or CUDA's launch limits break:
// - the launch shape stays within CUDA's grid limits for any output height and batch size, and
//   its threads (grid-stride loops) write every output pixel exactly once;
// - pixel, tensor and table offsets beyond 2^31 elements are computed in 64 bits.
// Both run resample_batch_thread / resample_batch_pixel, the kernel's own body, on the host.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "imgprep/kernels/resample_batch.h"

namespace imgprep {
namespace {

// A plan that maps output position i to source position i with one tap of weight 1.
AxisPlan identity_axis(int size) {
  AxisPlan axis;
  axis.taps = 1;
  axis.start.resize(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) axis.start[static_cast<size_t>(i)] = i;
  axis.weights.assign(static_cast<size_t>(size), 1.f);
  return axis;
}

ResizePlan identity_plan(int w, int h) { return {identity_axis(w), identity_axis(h), false}; }

OutputSpec uint8_nhwc() {
  OutputSpec format;
  format.dtype = DType::uint8;
  format.layout = Layout::nhwc;
  return format;
}

// Runs every thread of every block of the batch's launch shape, as the GPU would.
void run_every_thread(const BatchView& batch, const OutputSpec& format) {
  const LaunchShape shape = resample_launch_shape(batch);
  for_each_launch_thread(shape, [&](LaunchDim block, LaunchDim thread) {
    resample_batch_thread(batch, format, shape, block, thread);
  });
}

TEST(BatchLaunch, ShapeStaysWithinCudaLimits) {
  BatchView batch;
  batch.image_count = 1000000;
  batch.max_out_w = 3000000;
  batch.max_out_h = 5000000;
  const LaunchShape shape = resample_launch_shape(batch);
  EXPECT_LE(shape.grid.x, kMaxGridX);
  EXPECT_LE(shape.grid.y, 65535u);
  EXPECT_LE(shape.grid.z, 65535u);
  EXPECT_LE(shape.block.x * shape.block.y * shape.block.z, 1024u);
  EXPECT_GE(shape.grid.x, 1u);
}

// 600,000 rows: ceil(600000 / 8) = 75,000 blocks, beyond grid.y's 65,535.
TEST(BatchLaunch, ATallOutputIsWrittenWhole) {
  const int out_w = 2, out_h = 600000, src_w = 2, src_h = 600000;
  const OutputSpec format = uint8_nhwc();
  BatchTables tables;
  tables.add(src_w, src_h, identity_plan(out_w, out_h), out_w, out_h, format);
  tables.add(1, 3, identity_plan(1, 3), 1, 3, format);  // a second, small image
  std::vector<uint8_t> staging(tables.staging_bytes());
  for (uint64_t i = 0; i < tables.src_bytes(); ++i) staging[i] = static_cast<uint8_t>(i * 7 + 1);
  tables.pack_tables(staging.data());
  std::vector<uint8_t> out(tables.out_bytes(), 0), expected(tables.out_bytes(), 0);
  const BatchView batch = tables.device_view(staging.data(), out.data());
  EXPECT_GT(resample_launch_shape(batch).grid.y * 8ull, 65535ull);  // the loop is needed
  run_every_thread(batch, format);
  resample_batch_on_host(tables, format, staging.data(), expected.data());
  EXPECT_EQ(out, expected);
  // Every channel of the identity plan is the source pixel's: the last row is really written.
  const BatchImage& tall = tables.images()[0];
  const uint64_t last = (static_cast<uint64_t>(out_h - 1) * out_w + (out_w - 1));
  for (int c = 0; c < 3; ++c)
    EXPECT_EQ(out[tall.out + last * 3 + static_cast<uint64_t>(c)],
              staging[tall.src + last * 4 + static_cast<uint64_t>(c)]);
}

// A virtual mapping of `bytes` that only commits the pages written: untouched pages read as 0.
class SparseBytes {
 public:
  explicit SparseBytes(uint64_t bytes) : bytes_(bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    data_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  ~SparseBytes() {
    if (data_) munmap(data_, bytes_);
  }
  uint8_t* data() const { return data_; }

 private:
  uint64_t bytes_;
  uint8_t* data_;
};

// A 50,000 x 50,000 image (2.5 * 10^9 pixels, 10 GB of RGBX) and tensor (7.5 GB): pixel
// (49999, 49999) lies beyond 2^31 elements in both, and its tables' entries at X * taps too.
TEST(BatchOffsets, PixelsBeyondTwoToTheThirtyFirstAreAddressedIn64Bits) {
  const int side = 50000;
  const OutputSpec format = uint8_nhwc();
  BatchTables tables;
  tables.add(side, side, identity_plan(side, side), side, side, format);
  ASSERT_GT(tables.src_bytes(), uint64_t{1} << 33);
  SparseBytes src(tables.src_bytes()), out(tables.out_bytes());
  if (!src.data() || !out.data())
    GTEST_SKIP() << "this machine refuses a 10 GB MAP_NORESERVE mapping (strict overcommit)";
  const uint64_t last = static_cast<uint64_t>(side - 1) * side + (side - 1);
  const uint8_t pixel[4] = {0x40, 0x80, 0xC0, 0xFF};
  std::memcpy(src.data() + last * 4, pixel, 4);

  const BatchImage& image = tables.images()[0];
  resample_batch_pixel(image, tables.host_view(src.data(), out.data()), format, side - 1,
                       side - 1);
  EXPECT_EQ(out.data()[last * 3 + 0], 0x40);
  EXPECT_EQ(out.data()[last * 3 + 1], 0x80);
  EXPECT_EQ(out.data()[last * 3 + 2], 0xC0);
}

}  // namespace
}  // namespace imgprep

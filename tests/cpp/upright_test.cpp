// The upright kernel's body (kernels/include/imgprep/kernels/upright.h) on the host: what the GPU's
// JPEG decoder writes (RGB as stored, a rectangle of it) turned upright must be exactly the CPU
// decoder's EXIF-oriented pixels. References: the Decoder itself with and without EXIF, on the
// Pillow-made orient-N.jpg fixtures (the same 64x48 stored image under orientations 1..8).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "imgprep/codecs/decoder.h"
#include "imgprep/kernels/upright.h"
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;

DecodedImage decode(const fs::path& file, bool exif) {
  const std::vector<uint8_t> bytes = test::read_bytes(file);
  DecodeOptions options;
  options.exif = exif;
  Decoder decoder;
  DecodedImage image;
  decoder.decode(bytes, options, image);
  return image;
}

// The rectangle `r` of an RGBX image as packed RGB rows (what nvJPEG writes), with `pitch` bytes
// a row.
std::vector<uint8_t> rgb_rect(const DecodedImage& image, const PixelRect& r, int pitch) {
  std::vector<uint8_t> rgb(static_cast<size_t>(pitch) * r.height, 0);
  for (int y = 0; y < r.height; ++y)
    for (int x = 0; x < r.width; ++x)
      std::memcpy(&rgb[static_cast<size_t>(y) * pitch + x * 3],
                  &image.pixels[(static_cast<size_t>(r.y + y) * image.width + r.x + x) * 4], 3);
  return rgb;
}

// The window of the upright image as RGBX, made by the kernel's body from the stored rectangle
// under it.
std::vector<uint8_t> upright_window(const DecodedImage& stored, int orientation,
                                    const PixelRect& window) {
  const PixelRect rect = stored_rect(orientation, stored.width, stored.height, window);
  const int pitch = rect.width * 3 + 5;  // a pitch wider than the row, as nvJPEG may use
  const std::vector<uint8_t> src = rgb_rect(stored, rect, pitch);
  std::vector<uint8_t> dst(static_cast<size_t>(window.width) * window.height * 4, 0xEE);
  UprightImage image;
  image.src_pitch = pitch;
  image.x0 = rect.x;
  image.y0 = rect.y;
  image.stored_w = stored.width;
  image.stored_h = stored.height;
  image.orientation = orientation;
  image.u0 = window.x;
  image.v0 = window.y;
  image.dst_w = window.width;
  image.dst_h = window.height;
  const UprightView view{&image, 1, window.width, window.height, src.data(), dst.data()};
  // As the kernel runs it: every thread of every block of the launch shape.
  const LaunchShape shape = upright_launch_shape(view);
  for_each_launch_thread(shape, [&](LaunchDim block, LaunchDim thread) {
    upright_thread(view, shape, block, thread);
  });
  return dst;
}

TEST(FixtureUpright, EveryOrientationAndWindowEqualsTheCpuDecoder) {
  const fs::path dir = test::fixtures_dir() / "exif";
  ASSERT_TRUE(fs::exists(dir / "orient-1.jpg")) << "no fixtures in " << dir;
  for (int n = 1; n <= 8; ++n) {
    SCOPED_TRACE("orient-" + std::to_string(n));
    const fs::path file = dir / ("orient-" + std::to_string(n) + ".jpg");
    const DecodedImage upright = decode(file, true);
    const DecodedImage stored = decode(file, false);
    ASSERT_EQ(upright.width, n >= 5 ? stored.height : stored.width);
    const PixelRect windows[] = {{0, 0, upright.width, upright.height},
                                 {5, 7, 20, 11},
                                 {upright.width - 3, upright.height - 2, 3, 2},
                                 {1, 0, 1, upright.height}};
    for (const PixelRect& w : windows) {
      SCOPED_TRACE("window " + std::to_string(w.x) + "," + std::to_string(w.y) + " " +
                   std::to_string(w.width) + "x" + std::to_string(w.height));
      const std::vector<uint8_t> got = upright_window(stored, n, w);
      int differing = 0;
      for (int y = 0; y < w.height; ++y)
        for (int x = 0; x < w.width; ++x)
          for (int c = 0; c < 3; ++c)
            differing +=
                got[(static_cast<size_t>(y) * w.width + x) * 4 + c] !=
                upright.pixels[(static_cast<size_t>(w.y + y) * upright.width + w.x + x) * 4 + c];
      EXPECT_EQ(differing, 0);
    }
  }
}

TEST(Upright, StoredRectCoversExactlyTheWindow) {
  // A 10x4 stored image shown turned 90 degrees clockwise (orientation 6) is 4x10 upright: its
  // upright rows 2..4 of column 1 come from stored row 2 (= 4 - 1 - 1), columns 2..4.
  const PixelRect r = stored_rect(6, 10, 4, {1, 2, 1, 3});
  EXPECT_EQ(r.x, 2);
  EXPECT_EQ(r.y, 2);
  EXPECT_EQ(r.width, 3);
  EXPECT_EQ(r.height, 1);
  const PixelRect whole = stored_rect(8, 10, 4, {0, 0, 4, 10});
  EXPECT_EQ(whole.x, 0);
  EXPECT_EQ(whole.y, 0);
  EXPECT_EQ(whole.width, 10);
  EXPECT_EQ(whole.height, 4);
}

}  // namespace
}  // namespace imgprep

// Decoder::decode with a Region (libjpeg's cropped / skipped-row decoding) against the whole
// decode of the same opened image: every pixel inside the region must be identical, for every
// chroma subsampling, progressive files, odd sizes and each shrink-on-load scale.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "imgprep/codecs/decoder.h"
#include "test_support.h"

namespace imgprep {
namespace {
using test::read_bytes;
using test::source_dir;

struct JpegCase {
  std::string name;
  std::vector<uint8_t> bytes;
};

// A JPEG written here by TurboJPEG: smooth colour ramps, sharp edges and noise, so chroma
// upsampling at a cut edge would show.
std::vector<uint8_t> encode_jpeg(int w, int h, int subsamp, bool progressive) {
  std::mt19937 rng(static_cast<unsigned>(w * 31 + h + subsamp));
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      const bool edge = ((x / 5) + (y / 7)) % 3 == 0;
      p[0] = static_cast<uint8_t>(edge ? 250 : x * 255 / w);
      p[1] = static_cast<uint8_t>(edge ? 10 : y * 255 / h);
      p[2] = static_cast<uint8_t>((x * y + rng() % 40) % 256);
    }
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int flags = progressive ? TJFLAG_PROGRESSIVE : 0;
  const int rc = tjCompress2(tj, rgb.data(), w, 0, h, TJPF_RGB, &out, &size, subsamp, 90, flags);
  std::vector<uint8_t> bytes;
  if (rc == 0) bytes.assign(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  return bytes;
}

std::vector<JpegCase> jpeg_cases() {
  std::vector<JpegCase> cases;
  const struct {
    int samp;
    const char* name;
  } samps[] = {{TJSAMP_444, "444"}, {TJSAMP_422, "422"}, {TJSAMP_420, "420"},
               {TJSAMP_440, "440"}, {TJSAMP_411, "411"}, {TJSAMP_GRAY, "gray"}};
  for (const auto& s : samps)
    cases.push_back({std::string("203x157-") + s.name, encode_jpeg(203, 157, s.samp, false)});
  cases.push_back({"203x157-420-progressive", encode_jpeg(203, 157, TJSAMP_420, true)});
  cases.push_back({"64x64-420", encode_jpeg(64, 64, TJSAMP_420, false)});
  for (const char* rel : {"objects/coffee.jpg", "objects/coffee-progressive.jpg",
                          "objects/clock-gray.jpg", "space/rocket.jpg", "space/hubble-strip.jpg"})
    cases.push_back({rel, read_bytes(source_dir() / "datasets" / "sample" / rel)});
  return cases;
}

std::vector<Region> regions_for(int W, int H) {
  const std::vector<Region> all = {
      {0, 0, W, H},          {1, 1, W - 2, H - 2},         {W / 4, H / 4, W / 2, H / 2},
      {8, 8, 20, 20},        {16, 16, 20, 20},             {32, 32, 17, 17},
      {17, 9, 5, 3},         {7, 15, 33, 19},              {W - 5, H - 3, 5, 3},
      {W / 2, 0, 1, H},      {0, H / 2, W, 1},             {(W - 24) / 2, (H - 24) / 2, 24, 24},
      {W - 17, H - 17, 17, 17},
  };
  std::vector<Region> valid;
  for (const Region& r : all)
    if (r.x >= 0 && r.y >= 0 && r.width >= 1 && r.height >= 1 && r.x + r.width <= W &&
        r.y + r.height <= H)
      valid.push_back(r);
  return valid;
}

// DecodeOptions under which shrink-on-load picks exactly 1/d for a w x h image.
DecodeOptions shrink_by(int d, int w, int h) {
  DecodeOptions o;
  o.resize = ResizeSpec{ResizeMode::stretch, 0, (w + d - 1) / d, (h + d - 1) / d};
  o.shrink_on_load = ShrinkOnLoad::max;
  return o;
}

TEST(DecoderRegion, RegionPixelsEqualTheWholeDecode) {
  int checked = 0, failed = 0;
  for (const JpegCase& c : jpeg_cases()) {
    ASSERT_FALSE(c.bytes.empty()) << c.name;
    // Every open() below is followed by a decode(): see DecoderReuse for why that matters.
    const ImageInfo full = Decoder().open(c.bytes, DecodeOptions{});
    Decoder decoder;
    for (int d : {1, 2, 4, 8}) {
      const DecodeOptions options = shrink_by(d, full.width, full.height);
      const ImageInfo info = decoder.open(c.bytes, options);
      ASSERT_EQ(info.shrink, d) << c.name;
      EXPECT_EQ(info.decoded_width, (full.width + d - 1) / d) << c.name;
      EXPECT_EQ(info.decoded_height, (full.height + d - 1) / d) << c.name;
      DecodedImage whole;
      decoder.decode(whole);
      ASSERT_EQ(whole.width, info.decoded_width);
      ASSERT_EQ(whole.height, info.decoded_height);
      ASSERT_EQ(whole.origin_x, 0);
      ASSERT_EQ(whole.origin_y, 0);

      for (const Region& r : regions_for(whole.width, whole.height)) {
        char what[160];
        std::snprintf(what, sizeof what, "%s 1/%d region x=%d y=%d %dx%d", c.name.c_str(), d,
                      r.x, r.y, r.width, r.height);
        SCOPED_TRACE(what);
        decoder.open(c.bytes, options);
        DecodedImage part;
        decoder.decode(part, r);
        ++checked;
        // It holds at least the region...
        ASSERT_LE(part.origin_x, r.x);
        ASSERT_LE(part.origin_y, r.y);
        ASSERT_GE(part.origin_x + part.width, r.x + r.width);
        ASSERT_GE(part.origin_y + part.height, r.y + r.height);
        ASSERT_EQ(part.pixels.size() >= static_cast<size_t>(part.width) * part.height * 4, true);
        EXPECT_EQ(part.shrink, d);
        EXPECT_DOUBLE_EQ(part.extent_w, whole.extent_w);
        // ...with the same pixels as the whole image there.
        int mismatches = 0, worst = 0;
        int x_lo = INT_MAX, x_hi = -1, y_lo = INT_MAX, y_hi = -1;  // where they differ
        for (int y = r.y; y < r.y + r.height; ++y)
          for (int x = r.x; x < r.x + r.width; ++x) {
            const uint8_t* a = &whole.pixels[(static_cast<size_t>(y) * whole.width + x) * 4];
            const uint8_t* b = &part.pixels[(static_cast<size_t>(y - part.origin_y) * part.width +
                                             (x - part.origin_x)) * 4];
            for (int ch = 0; ch < 3; ++ch) {
              const int diff = std::abs(a[ch] - b[ch]);
              if (!diff) continue;
              ++mismatches;
              worst = std::max(worst, diff);
              x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
              y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
            }
          }
        if (mismatches) ++failed;
        EXPECT_EQ(mismatches, 0) << "max |diff| " << worst << " in columns " << x_lo << ".."
                                 << x_hi << ", rows " << y_lo << ".." << y_hi
                                 << "; decoded origin (" << part.origin_x << ", " << part.origin_y
                                 << ") size " << part.width << "x" << part.height;
      }
    }
  }
  std::printf("[ summary  ] %d region decodes compared, %d differ from the whole decode\n", checked,
              failed);
}

// Regions of EXIF-rotated images are decoded whole; they must still cover the region.
TEST(DecoderRegion, RotatedImageCoversTheRegion) {
  const std::vector<uint8_t> bytes =
      read_bytes(source_dir() / "datasets" / "sample" / "animals" / "chelsea-exif6.jpg");
  Decoder decoder;
  const ImageInfo info = decoder.open(bytes, DecodeOptions{});
  ASSERT_EQ(info.width, 451);  // stored 300x451, shown upright
  ASSERT_EQ(info.height, 300);
  DecodedImage whole, part;
  decoder.decode(whole);
  decoder.open(bytes, DecodeOptions{});
  const Region r{100, 50, 40, 30};
  decoder.decode(part, r);
  ASSERT_LE(part.origin_x, r.x);
  ASSERT_LE(part.origin_y, r.y);
  ASSERT_GE(part.origin_x + part.width, r.x + r.width);
  ASSERT_GE(part.origin_y + part.height, r.y + r.height);
  for (int y = r.y; y < r.y + r.height; ++y)
    for (int x = r.x; x < r.x + r.width; ++x)
      for (int ch = 0; ch < 3; ++ch)
        ASSERT_EQ(whole.pixels[(static_cast<size_t>(y) * whole.width + x) * 4 + ch],
                  part.pixels[(static_cast<size_t>(y - part.origin_y) * part.width +
                               (x - part.origin_x)) * 4 + ch])
            << x << "," << y;
}

// A region decode stops reading after the region's last row, yet a file cut short below it must
// fail like one cut above it, while bytes after the end-of-image marker change nothing.
TEST(DecoderRegion, FileCutShortBelowTheRegionStillFails) {
  for (const char* rel : {"space/rocket.jpg", "objects/coffee-progressive.jpg"}) {
    const std::vector<uint8_t> bytes = read_bytes(source_dir() / "datasets" / "sample" / rel);
    ASSERT_GT(bytes.size(), 1000u) << rel;
    ASSERT_EQ(bytes[bytes.size() - 2], 0xFF) << rel;  // ends with its end-of-image marker
    ASSERT_EQ(bytes[bytes.size() - 1], 0xD9) << rel;
    Decoder decoder;
    const ImageInfo info = decoder.open(bytes, DecodeOptions{});
    DecodedImage whole;
    decoder.decode(whole);
    const Region top{0, 0, info.decoded_width / 4, info.decoded_height / 4};

    // Cut at 97% and 99.9% (rows far below the region) and just before the marker.
    for (size_t keep : {bytes.size() * 97 / 100, bytes.size() * 999 / 1000, bytes.size() - 2}) {
      SCOPED_TRACE(std::string(rel) + " cut to " + std::to_string(keep) + " bytes");
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(keep));
      decoder.open(cut, DecodeOptions{});
      DecodedImage part;
      try {
        decoder.decode(part, top);
        ADD_FAILURE() << "decoded without an error";
      } catch (const DecodeError& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
      }
    }

    std::vector<uint8_t> padded = bytes;
    padded.insert(padded.end(), 300, 0x00);
    decoder.open(padded, DecodeOptions{});
    DecodedImage part;
    decoder.decode(part, top);
    EXPECT_EQ(part.warning, "") << rel;
    ASSERT_EQ(part.origin_x, 0);
    ASSERT_EQ(part.origin_y, 0);
    for (int y = 0; y < top.height; ++y)
      for (int x = 0; x < top.width; ++x)
        for (int ch = 0; ch < 3; ++ch)
          ASSERT_EQ(whole.pixels[(static_cast<size_t>(y) * whole.width + x) * 4 + ch],
                    part.pixels[(static_cast<size_t>(y) * part.width + x) * 4 + ch])
              << rel << " " << x << "," << y;
  }
}

// Whether a damaged file decodes must not depend on what part of it is decoded: a file without
// its end-of-image marker (cut anywhere, or only the marker missing) fails as truncated, with
// the same message, for the whole image, every region and every shrink-on-load scale, and one
// with bytes after its marker decodes for all of them.
TEST(DecoderRegion, TruncationVerdictIsTheSameForEveryWindowAndScale) {
  for (const JpegCase& c : jpeg_cases()) {
    ASSERT_GE(c.bytes.size(), 2u) << c.name;
    ASSERT_EQ(c.bytes[c.bytes.size() - 2], 0xFF) << c.name;
    ASSERT_EQ(c.bytes[c.bytes.size() - 1], 0xD9) << c.name;
    std::vector<uint8_t> padded = c.bytes;
    padded.insert(padded.end(), {0x00, 0xFF, 0x00, 0x12});
    const struct {
      const char* what;
      std::vector<uint8_t> bytes;
      bool truncated;
    } variants[] = {
        {"no marker", {c.bytes.begin(), c.bytes.end() - 2}, true},
        {"cut at 80%", {c.bytes.begin(), c.bytes.begin() + c.bytes.size() * 4 / 5}, true},
        {"bytes after the marker", padded, false},
    };
    const ImageInfo full = Decoder().open(c.bytes, DecodeOptions{});
    for (const auto& v : variants) {
      SCOPED_TRACE(c.name + ", " + v.what);
      std::set<std::string> outcomes;  // "ok", or the error message
      Decoder decoder;
      for (int d : {1, 2, 4, 8}) {
        const DecodeOptions options = shrink_by(d, full.width, full.height);
        const int w = (full.width + d - 1) / d, h = (full.height + d - 1) / d;
        std::vector<std::optional<Region>> windows = {std::nullopt};
        for (const Region& r : regions_for(w, h)) windows.push_back(r);
        for (const std::optional<Region>& r : windows) {
          DecodedImage out;
          try {
            decoder.open(v.bytes, options);
            decoder.decode(out, r);
            outcomes.insert("ok");
          } catch (const DecodeError& e) {
            outcomes.insert(e.what());
          }
        }
      }
      ASSERT_EQ(outcomes.size(), 1u) << "outcomes: " << ::testing::PrintToString(outcomes);
      const std::string& outcome = *outcomes.begin();
      if (v.truncated)
        EXPECT_EQ(outcome.rfind("truncated JPEG", 0), 0u) << outcome;
      else
        EXPECT_EQ(outcome, "ok");
    }
  }
}

}  // namespace
}  // namespace imgprep

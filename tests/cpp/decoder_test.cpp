// The Decoder on real files: the Pillow-made fixtures (EXIF orientations, pixel formats, files that
// must be refused), shrink-on-load, and libpng warnings that must be collected, never printed.
// Suites named Fixture* read ${IMGPREP_FIXTURES} (CTest fixture "images", make_fixtures.py).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <turbojpeg.h>

#include "imgprep/codecs/decoder.h"
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;
using test::fixtures_dir;
using test::read_bytes;
using test::source_dir;
using test::StderrCapture;

// "Once per process, before decoding" (decoder.h).
class CodecsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { configure_codecs(DecodeOptions{}.max_pixels); }
};
[[maybe_unused]] ::testing::Environment* const codecs_env =
    ::testing::AddGlobalTestEnvironment(new CodecsEnvironment);

// The RGB part of the decoder's RGBX output.
cv::Mat rgb_of(const DecodedImage& img) {
  const cv::Mat rgbx(img.height, img.width, CV_8UC4, const_cast<uint8_t*>(img.pixels.data()));
  cv::Mat rgb;
  cv::cvtColor(rgbx, rgb, cv::COLOR_RGBA2RGB);
  return rgb;
}

// An expected PNG, read by OpenCV (not by the decoder under test), as RGB.
cv::Mat read_expected(const fs::path& path) {
  const cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read " + path.string());
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

int max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  return static_cast<int>(cv::norm(a, b, cv::NORM_INF));
}

DecodedImage decode_file(const fs::path& path, const DecodeOptions& options = {}) {
  Decoder decoder;
  DecodedImage out;
  decoder.decode(read_bytes(path), options, out);
  return out;
}

// The DecodeError message for a file that must fail; "" (and a test failure) when it decoded.
std::string decode_error(const fs::path& path, const DecodeOptions& options = {}) {
  try {
    decode_file(path, options);
  } catch (const DecodeError& e) {
    return e.what();
  }
  ADD_FAILURE() << path << " decoded without a DecodeError";
  return "";
}

long max_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

class FixtureDecoder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fixtures_dir();
    ASSERT_TRUE(fs::exists(dir_ / "exif" / "orient-1.jpg"))
        << "no fixtures in " << dir_
        << ": run ctest (test make_fixtures) or tests/fixtures/make_fixtures.py into it";
  }
  fs::path dir_;
};

// ---- EXIF orientation ----

TEST_F(FixtureDecoder, ExifOrientationMatchesPillowExifTranspose) {
  int worst = 0;
  for (int n = 1; n <= 8; ++n) {
    SCOPED_TRACE("orient-" + std::to_string(n));
    const DecodedImage img = decode_file(dir_ / "exif" / ("orient-" + std::to_string(n) + ".jpg"));
    const bool swapped = n >= 5;
    EXPECT_EQ(img.width, swapped ? 48 : 64);
    EXPECT_EQ(img.height, swapped ? 64 : 48);
    EXPECT_EQ(img.source_width, img.width);
    EXPECT_EQ(img.source_height, img.height);
    EXPECT_EQ(img.shrink, 1);
    const cv::Mat expected =
        read_expected(dir_ / "exif" / ("orient-" + std::to_string(n) + ".expected.png"));
    ASSERT_EQ(rgb_of(img).size(), expected.size());
    const int diff = max_abs_diff(rgb_of(img), expected);
    worst = std::max(worst, diff);
    EXPECT_LE(diff, 1);
  }
  std::printf("[ summary  ] EXIF orientations vs Pillow: max |diff| %d\n", worst);
  RecordProperty("max_abs_diff", worst);
}

TEST_F(FixtureDecoder, ExifOffKeepsTheStoredOrientation) {
  DecodeOptions no_exif;
  no_exif.exif = false;
  const cv::Mat stored = read_expected(dir_ / "exif" / "orient-1.expected.png");
  const cv::Mat orient1 = rgb_of(decode_file(dir_ / "exif" / "orient-1.jpg"));
  for (int n = 1; n <= 8; ++n) {
    SCOPED_TRACE("orient-" + std::to_string(n));
    const DecodedImage img =
        decode_file(dir_ / "exif" / ("orient-" + std::to_string(n) + ".jpg"), no_exif);
    EXPECT_EQ(img.width, 64);
    EXPECT_EQ(img.height, 48);
    EXPECT_EQ(img.source_width, 64);
    EXPECT_EQ(img.source_height, 48);
    ASSERT_EQ(rgb_of(img).size(), stored.size());
    EXPECT_LE(max_abs_diff(rgb_of(img), stored), 1);
    EXPECT_EQ(max_abs_diff(rgb_of(img), orient1), 0);  // the same stored JPEG data
  }
}

TEST_F(FixtureDecoder, ShrinkOnLoadUsesTheUprightSize) {
  // orient-6 stores 64x48 and shows 48x64. shorter:12 -> 12x16, which 1/4 still covers.
  DecodeOptions options;
  options.shrink_on_load = ShrinkOnLoad::max;
  options.resize = ResizeSpec{ResizeMode::shorter, 12};
  const DecodedImage img = decode_file(dir_ / "exif" / "orient-6.jpg", options);
  EXPECT_EQ(img.shrink, 4);
  EXPECT_EQ(img.width, 12);
  EXPECT_EQ(img.height, 16);
  EXPECT_EQ(img.source_width, 48);
  EXPECT_EQ(img.source_height, 64);
  EXPECT_DOUBLE_EQ(img.extent_w, 12.0);
  EXPECT_DOUBLE_EQ(img.extent_h, 16.0);
  // Still upright: close to the expected image shrunk by 4.
  cv::Mat expected;
  cv::resize(read_expected(dir_ / "exif" / "orient-6.expected.png"), expected, cv::Size(12, 16), 0,
             0, cv::INTER_AREA);
  cv::Mat diff;
  cv::absdiff(rgb_of(img), expected, diff);
  EXPECT_LT(cv::mean(diff)[0] + cv::mean(diff)[1] + cv::mean(diff)[2], 3 * 12.0);
}

// ---- pixel formats ----

TEST_F(FixtureDecoder, FormatsMatchTheirExpectedPng) {
  // Tolerance per file: lossless formats exact, JPEG within 2 (libjpeg-turbo versions).
  const std::map<std::string, int> tolerance = {
      {"gray.jpg", 2},      {"gray.png", 0},   {"rgba.png", 0},    {"la.png", 0},
      {"palette.png", 0},   {"palette-transparent.png", 0},        {"rgb16.png", 0},
      {"gray16.png", 0},    {"cmyk.jpg", 2},   {"progressive.jpg", 2},
      {"rgb.bmp", 0},       {"rgb.webp", 0},   {"rgb.tif", 0},
  };
  std::set<std::string> seen;
  for (const auto& entry : fs::directory_iterator(dir_ / "formats")) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".expected.png") || name == "rgb.gif") continue;
    seen.insert(name);
    SCOPED_TRACE(name);
    ASSERT_TRUE(tolerance.count(name)) << "a fixture this test does not know: " << name;
    DecodedImage img;
    ASSERT_NO_THROW(img = decode_file(entry.path()));
    const cv::Mat expected = read_expected(entry.path().string() + ".expected.png");
    EXPECT_EQ(img.width, 37);
    EXPECT_EQ(img.height, 29);
    ASSERT_EQ(rgb_of(img).size(), expected.size());
    const int diff = max_abs_diff(rgb_of(img), expected);
    std::printf("[ summary  ] %-24s max |diff| %d\n", name.c_str(), diff);
    EXPECT_LE(diff, tolerance.at(name));
  }
  EXPECT_EQ(seen.size(), tolerance.size());
}

TEST_F(FixtureDecoder, GifIsRefused) {
  EXPECT_EQ(decode_error(dir_ / "formats" / "rgb.gif"), "GIF is not supported");
}

// ---- files that must be refused ----

TEST_F(FixtureDecoder, BadFilesThrowDecodeErrorQuietly) {
  // A word the reason must contain, so the manifest says what went wrong.
  const std::map<std::string, std::string> reason = {
      {"truncated.jpg", "truncated"}, {"garbage.jpg", "JPEG"},
      {"text.jpg", "not a recognised image format"},
      {"empty.jpg", "empty"},         {"truncated.png", "PNG"},
      {"bomb.png", "--max-pixels"},   {"bomb.jpg", "--max-pixels"},
  };
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "bad")) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    ASSERT_TRUE(reason.count(name)) << "a fixture this test does not know: " << name;
    ++count;
    StderrCapture capture;
    const std::string message = decode_error(entry.path());
    const std::string printed = capture.text();
    std::printf("[ summary  ] %-14s -> %s\n", name.c_str(), message.c_str());
    EXPECT_NE(message.find(reason.at(name)), std::string::npos) << message;
    EXPECT_EQ(printed, "") << "the decoder wrote to stderr";
  }
  EXPECT_EQ(count, reason.size());
}

TEST_F(FixtureDecoder, BombsAreRefusedBeforeAllocating) {
  const struct {
    const char* name;
    int w, h;
  } bombs[] = {{"bomb.png", 100000, 100000}, {"bomb.jpg", 60000, 60000}};
  for (const auto& b : bombs) {
    SCOPED_TRACE(b.name);
    const std::vector<uint8_t> bytes = read_bytes(dir_ / "bad" / b.name);
    Decoder decoder;
    DecodedImage out;
    const long before = max_rss_kb();
    try {
      decoder.decode(bytes, DecodeOptions{}, out);
      ADD_FAILURE() << "decoded";
    } catch (const DecodeError& e) {
      EXPECT_NE(std::string(e.what()).find("--max-pixels"), std::string::npos) << e.what();
    }
    const long grown_kb = max_rss_kb() - before;
    EXPECT_LE(grown_kb, 50 * 1024) << "peak memory grew by " << grown_kb << " KiB";
    EXPECT_LE(out.pixels.capacity(), size_t{50} << 20);
  }
}

// One Decoder serves every image of a thread (Scratch), so a refused image must not break the
// next one.
TEST_F(FixtureDecoder, DecoderIsReusableAfterEveryBadFile) {
  const std::vector<uint8_t> good = read_bytes(dir_ / "exif" / "orient-1.jpg");
  const cv::Mat expected = rgb_of(decode_file(dir_ / "exif" / "orient-1.jpg"));
  Decoder decoder;
  for (const auto& entry : fs::directory_iterator(dir_ / "bad")) {
    SCOPED_TRACE(entry.path().filename().string());
    DecodedImage out;
    EXPECT_THROW(decoder.decode(read_bytes(entry.path()), DecodeOptions{}, out), DecodeError);
    try {
      decoder.decode(good, DecodeOptions{}, out);
      EXPECT_EQ(max_abs_diff(rgb_of(out), expected), 0);
    } catch (const DecodeError& e) {
      ADD_FAILURE() << "the next, valid JPEG failed: " << e.what();
    }
  }
}

// ---- nothing carries over from one image to the next ----

// What decoding path gives: "decoded" with the pixels, or the DecodeError's message.
std::string outcome_of(Decoder& decoder, const fs::path& path, DecodedImage& out) {
  try {
    decoder.decode(read_bytes(path), DecodeOptions{}, out);
    return "decoded";
  } catch (const DecodeError& e) {
    return e.what();
  }
}

// One Decoder serves every image of a thread, so the outcome of an image must not depend on the
// images before it: a JPEG without quantisation tables (DQT) fails however it is preceded, and
// one without Huffman tables (DHT, as Motion JPEG frames) uses the standard tables, never the
// previous image's (here Pillow's optimize=True tables). Each file is decoded after every
// fixture of tables/ and formats/, and must match its decode by a fresh Decoder exactly.
TEST_F(FixtureDecoder, NothingCarriesOverToTheNextImage) {
  std::vector<fs::path> tables, before;
  for (const char* group : {"tables", "formats"})
    for (const auto& entry : fs::directory_iterator(dir_ / group))
      if (!entry.path().string().ends_with(".expected.png")) before.push_back(entry.path());
  for (const auto& entry : fs::directory_iterator(dir_ / "tables"))
    if (!entry.path().string().ends_with(".expected.png")) tables.push_back(entry.path());
  std::sort(tables.begin(), tables.end());
  std::sort(before.begin(), before.end());
  ASSERT_EQ(tables.size(), 8u);

  for (const fs::path& f : tables) {
    const std::string name = f.filename().string();
    SCOPED_TRACE(name);
    Decoder fresh;
    DecodedImage alone;
    const std::string expected_outcome = outcome_of(fresh, f, alone);
    // Alone: the DQT-less files fail, the others decode like Pillow.
    if (name.starts_with("no-dqt")) {
      EXPECT_NE(expected_outcome.find("Quantization table 0x00 was not defined"),
                std::string::npos) << expected_outcome;
      continue;
    }
    ASSERT_EQ(expected_outcome, "decoded");
    const cv::Mat expected = read_expected(f.string() + ".expected.png");
    ASSERT_EQ(rgb_of(alone).size(), expected.size());
    EXPECT_LE(max_abs_diff(rgb_of(alone), expected), 1);
  }

  int checked = 0;
  Decoder decoder;
  for (const fs::path& previous : before)
    for (const fs::path& f : tables) {
      SCOPED_TRACE(previous.filename().string() + " then " + f.filename().string());
      Decoder fresh;
      DecodedImage alone, out;
      const std::string expected_outcome = outcome_of(fresh, f, alone);
      outcome_of(decoder, previous, out);
      ASSERT_EQ(outcome_of(decoder, f, out), expected_outcome);
      if (expected_outcome == "decoded") {
        ASSERT_EQ(out.width, alone.width);
        ASSERT_EQ(out.height, alone.height);
        EXPECT_EQ(max_abs_diff(rgb_of(out), rgb_of(alone)), 0);
      }
      ++checked;
    }
  std::printf("[ summary  ] %d decodes after another image match a fresh decoder's\n", checked);
}

// OpenCV 4.6 writes some decoding failures ("imdecode_('...'): can't read header: ...") straight
// to std::cerr, not through its logger. They must become the DecodeError alone, while what the
// program itself writes to std::cerr, from this thread or another, still gets through.
TEST_F(FixtureDecoder, OpenCvFailuresPrintNothing) {
  std::vector<uint8_t> bmp = read_bytes(dir_ / "formats" / "rgb.bmp");
  ASSERT_EQ(bmp[30], 0);  // BITMAPINFOHEADER compression: BI_RGB
  bmp[30] = 9;            // no such compression: OpenCV's readHeader asserts
  StderrCapture capture;
  std::string message;
  Decoder decoder;
  DecodedImage out;
  try {
    decoder.decode(bmp, DecodeOptions{}, out);
    ADD_FAILURE() << "decoded";
  } catch (const DecodeError& e) {
    message = e.what();
  }
  std::cerr << "own line" << std::endl;
  std::thread([] { std::cerr << "other thread" << std::endl; }).join();
  const std::string printed = capture.text();
  std::printf("[ summary  ] corrupt BMP -> %s\n", message.c_str());
  EXPECT_EQ(message.rfind("cannot decode BMP: ", 0), 0u) << message;
  EXPECT_EQ(printed, "own line\nother thread\n");
}

// decoder.h: "out.source_width/height are set as soon as the header is read, so they are known
// for some failed images too" -- a bomb's header is read, so its size is known.
TEST_F(FixtureDecoder, RefusedBombStillReportsItsSize) {
  const struct {
    const char* name;
    int w, h;
  } bombs[] = {{"bomb.png", 100000, 100000}, {"bomb.jpg", 60000, 60000}};
  for (const auto& b : bombs) {
    SCOPED_TRACE(b.name);
    Decoder decoder;
    DecodedImage out;
    EXPECT_THROW(decoder.decode(read_bytes(dir_ / "bad" / b.name), DecodeOptions{}, out),
                 DecodeError);
    EXPECT_EQ(out.source_width, b.w);
    EXPECT_EQ(out.source_height, b.h);
  }
  // A file that fails after its header also keeps the size (truncated.jpg is 160x120).
  Decoder decoder;
  DecodedImage out;
  EXPECT_THROW(decoder.decode(read_bytes(dir_ / "bad" / "truncated.jpg"), DecodeOptions{}, out),
               DecodeError);
  EXPECT_EQ(out.source_width, 160);
  EXPECT_EQ(out.source_height, 120);
}

// ---- shrink-on-load ----

DecodeOptions resize_to(ResizeSpec resize, ShrinkOnLoad shrink = ShrinkOnLoad::max,
                        CropSpec crop = {}) {
  DecodeOptions o;
  o.resize = resize;
  o.crop = crop;
  o.shrink_on_load = shrink;
  return o;
}

TEST(DecoderShrink, ShrinkFactorRules) {
  const ResizeSpec shorter256{ResizeMode::shorter, 256};
  // 2000x1500 -> 341x256: 1/4 gives 500x375, 1/8 only 250x188.
  EXPECT_EQ(Decoder::shrink_factor(2000, 1500, resize_to(shorter256)), 4);
  EXPECT_EQ(Decoder::shrink_factor(1500, 2000, resize_to(shorter256)), 4);
  EXPECT_EQ(Decoder::shrink_factor(2000, 1500, resize_to(shorter256, ShrinkOnLoad::max, {true, 224, 224})), 4);
  EXPECT_EQ(Decoder::shrink_factor(500, 375, resize_to(shorter256)), 1);
  EXPECT_EQ(Decoder::shrink_factor(700, 525, resize_to(shorter256)), 2);  // 350x263 >= 341x256
  EXPECT_EQ(Decoder::shrink_factor(680, 510, resize_to(shorter256)), 1);  // 340x255 < 341x256
  EXPECT_EQ(Decoder::shrink_factor(4000, 3000, resize_to(shorter256)), 8);
  EXPECT_EQ(Decoder::shrink_factor(2000, 1500, DecodeOptions{}), 1);  // no resize
  EXPECT_EQ(Decoder::shrink_factor(2000, 1500, resize_to(shorter256, ShrinkOnLoad::off)), 1);
  EXPECT_EQ(Decoder::shrink_factor(1600, 1200, resize_to({ResizeMode::stretch, 0, 100, 100})), 8);
  EXPECT_EQ(Decoder::shrink_factor(1600, 1200, resize_to({ResizeMode::stretch, 0, 100, 300})), 4);
  EXPECT_EQ(Decoder::shrink_factor(4000, 3000, resize_to({ResizeMode::letterbox, 0, 640, 640})), 4);
  // Rounded-up scaled sizes count: ceil(2047 / 8) = 256 still covers 256.
  EXPECT_EQ(Decoder::shrink_factor(2047, 2047, resize_to(shorter256)), 8);
  EXPECT_EQ(Decoder::shrink_factor(2040, 2040, resize_to(shorter256)), 4);
}

TEST(DecoderShrink, AutomaticStaysTheReducingGapAboveTheResizedSize) {
  static_assert(Decoder::kReducingGap == 4, "the sizes below assume a gap of 4");
  const ResizeSpec shorter256{ResizeMode::shorter, 256};
  const auto auto_to = [](ResizeSpec resize) { return resize_to(resize, ShrinkOnLoad::automatic); };
  // 4000x3000 -> 341x256: 1/2 gives 2000x1500 >= 1364x1024, 1/4 only 1000x750.
  EXPECT_EQ(Decoder::shrink_factor(4000, 3000, auto_to(shorter256)), 2);
  EXPECT_EQ(Decoder::shrink_factor(3000, 4000, auto_to(shorter256)), 2);
  EXPECT_EQ(Decoder::shrink_factor(2000, 1500, auto_to(shorter256)), 1);  // max picks 1/4
  EXPECT_EQ(Decoder::shrink_factor(2048, 2048, auto_to(shorter256)), 2);  // 1024x1024
  EXPECT_EQ(Decoder::shrink_factor(2046, 2046, auto_to(shorter256)), 1);  // 1023x1023
  EXPECT_EQ(Decoder::shrink_factor(8000, 6000, auto_to(shorter256)), 4);  // 2000x1500
  EXPECT_EQ(Decoder::shrink_factor(16000, 12000, auto_to(shorter256)), 8);
  EXPECT_EQ(Decoder::shrink_factor(1600, 1200, auto_to({ResizeMode::stretch, 0, 100, 150})), 2);
  EXPECT_EQ(Decoder::shrink_factor(4000, 3000, resize_to(shorter256, ShrinkOnLoad::off)), 1);
  EXPECT_EQ(DecodeOptions{}.shrink_on_load, ShrinkOnLoad::automatic);
}

TEST(DecoderShrink, DecodedSizeIsCeilOfSourceOverFactor) {
  // An odd-sized JPEG made here, so every scaled size is rounded up.
  cv::Mat bgr(757, 1003, CV_8UC3);
  cv::randu(bgr, 0, 256);
  cv::GaussianBlur(bgr, bgr, cv::Size(9, 9), 3);
  std::vector<uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", bgr, jpeg));

  Decoder decoder;
  DecodedImage img;
  decoder.decode(jpeg, resize_to({ResizeMode::shorter, 90}), img);  // -> 119x90
  EXPECT_EQ(img.shrink, 8);
  EXPECT_EQ(img.width, (1003 + 7) / 8);
  EXPECT_EQ(img.height, (757 + 7) / 8);
  EXPECT_DOUBLE_EQ(img.extent_w, 1003 / 8.0);
  EXPECT_DOUBLE_EQ(img.extent_h, 757 / 8.0);
  EXPECT_EQ(img.source_width, 1003);
  EXPECT_EQ(img.source_height, 757);
  EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width) * img.height * 4);

  decoder.decode(jpeg, resize_to({ResizeMode::shorter, 90}, ShrinkOnLoad::off), img);
  EXPECT_EQ(img.shrink, 1);
  EXPECT_EQ(img.width, 1003);
  EXPECT_EQ(img.height, 757);
}

TEST(DecoderShrink, SampleJpegDecodesAtAQuarter) {
  const std::vector<uint8_t> bytes =
      read_bytes(source_dir() / "datasets" / "sample" / "objects" / "coffee-1600x1200.jpg");
  Decoder decoder;
  DecodedImage full, quarter;
  decoder.decode(bytes, resize_to({ResizeMode::shorter, 256}, ShrinkOnLoad::off), full);
  ASSERT_EQ(full.width, 1600);
  ASSERT_EQ(full.height, 1200);
  decoder.decode(bytes, resize_to({ResizeMode::shorter, 256}), quarter);
  EXPECT_EQ(quarter.shrink, 4);
  EXPECT_EQ(quarter.width, 400);
  EXPECT_EQ(quarter.height, 300);
  EXPECT_EQ(quarter.source_width, 1600);
  EXPECT_EQ(quarter.source_height, 1200);
  // The scaled IDCT is close to a box filter of the full decode.
  cv::Mat boxed, diff;
  cv::resize(rgb_of(full), boxed, cv::Size(400, 300), 0, 0, cv::INTER_AREA);
  cv::absdiff(rgb_of(quarter), boxed, diff);
  const cv::Scalar mean = cv::mean(diff);
  std::printf("[ summary  ] 1/4 decode vs INTER_AREA of the full decode: mean |diff| %.2f %.2f %.2f\n",
              mean[0], mean[1], mean[2]);
  for (int c = 0; c < 3; ++c) EXPECT_LT(mean[c], 4.0);
}

// ---- PNG warnings ----

TEST(DecoderWarnings, PngWarningIsCollectedNotPrinted) {
  // Its iCCP chunk holds a profile libpng knows to be wrong ("known incorrect sRGB profile").
  const std::vector<uint8_t> bytes =
      read_bytes(source_dir() / "datasets" / "sample" / "animals" / "chelsea-small.png");
  Decoder decoder;
  DecodedImage img;
  StderrCapture capture;
  decoder.decode(bytes, DecodeOptions{}, img);
  const std::string printed = capture.text();
  std::printf("[ summary  ] warning: %s\n", img.warning.c_str());
  EXPECT_NE(img.warning.find("sRGB"), std::string::npos) << img.warning;
  EXPECT_EQ(printed, "");
  EXPECT_GT(img.width, 0);
  // Same pixels as OpenCV's own PNG reader (whose libpng does print the warning: kept quiet).
  StderrCapture quiet;
  const cv::Mat bgr = cv::imdecode(bytes, cv::IMREAD_COLOR);
  quiet.text();
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  EXPECT_EQ(max_abs_diff(rgb_of(img), rgb), 0);
}

TEST(DecoderWarnings, WarningIsClearedForTheNextImage) {
  Decoder decoder;
  DecodedImage img;
  decoder.decode(read_bytes(source_dir() / "datasets" / "sample" / "animals" / "chelsea-small.png"),
                 DecodeOptions{}, img);
  ASSERT_FALSE(img.warning.empty());
  cv::Mat bgr(8, 8, CV_8UC3, cv::Scalar(1, 2, 3));
  std::vector<uint8_t> png;
  ASSERT_TRUE(cv::imencode(".png", bgr, png));
  decoder.decode(png, DecodeOptions{}, img);
  EXPECT_EQ(img.warning, "");
  EXPECT_EQ(img.width, 8);
}

// What decides whether a GPU's JPEG decoder takes a JPEG, read from JPEGs that TurboJPEG makes
// with known settings.
JpegLayout layout_of(const std::vector<uint8_t>& jpeg) {
  Decoder decoder;
  decoder.open(jpeg, DecodeOptions{});
  return decoder.jpeg_layout();
}

std::vector<uint8_t> encode_jpeg(int subsampling, int flags = 0) {
  const int w = 56, h = 40;
  std::vector<uint8_t> pixels(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37 % 251);
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int status = tjCompress2(tj, pixels.data(), w, 0, h, TJPF_RGB, &out, &size, subsampling,
                                 90, flags);
  std::vector<uint8_t> jpeg(out, out + (status == 0 ? size : 0));
  tjFree(out);
  tjDestroy(tj);
  if (jpeg.empty()) throw std::runtime_error("tjCompress2 failed");
  return jpeg;
}

TEST(JpegLayout, SaysHowEachJpegIsCoded) {
  const JpegLayout j420 = layout_of(encode_jpeg(TJSAMP_420));
  EXPECT_FALSE(j420.progressive);
  EXPECT_FALSE(j420.arithmetic);
  EXPECT_TRUE(j420.single_scan);
  EXPECT_TRUE(j420.complete);
  EXPECT_FALSE(j420.cmyk);
  EXPECT_EQ(j420.precision, 8);
  EXPECT_EQ(j420.components, 3);
  EXPECT_EQ(j420.sampling[0].h, 2);
  EXPECT_EQ(j420.sampling[0].v, 2);
  EXPECT_EQ(j420.sampling[1].h, 1);
  EXPECT_EQ(j420.sampling[2].v, 1);
  const JpegLayout j422 = layout_of(encode_jpeg(TJSAMP_422));
  EXPECT_EQ(j422.sampling[0].h, 2);
  EXPECT_EQ(j422.sampling[0].v, 1);
  const JpegLayout j411 = layout_of(encode_jpeg(TJSAMP_411));
  EXPECT_EQ(j411.sampling[0].h, 4);
  const JpegLayout gray = layout_of(encode_jpeg(TJSAMP_GRAY));
  EXPECT_EQ(gray.components, 1);
  EXPECT_TRUE(gray.single_scan);

  const JpegLayout progressive = layout_of(encode_jpeg(TJSAMP_444, TJFLAG_PROGRESSIVE));
  EXPECT_TRUE(progressive.progressive);
  EXPECT_FALSE(progressive.single_scan);
  EXPECT_EQ(progressive.sampling[0].h, 1);

  std::vector<uint8_t> jpeg = encode_jpeg(TJSAMP_420);
  const std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() / 2));
  EXPECT_FALSE(layout_of(cut).complete);
  jpeg.insert(jpeg.end(), 3000, 0);  // bytes after the end-of-image marker, as some cameras add
  EXPECT_TRUE(layout_of(jpeg).complete);
}

}  // namespace
}  // namespace imgprep

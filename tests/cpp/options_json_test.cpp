// from_json(to_json(options)), as the procs engine hands options to its workers (through the
// text of the JSON document): every field a worker could use comes back equal to the original,
// for options that differ from the defaults everywhere. Also validate(): every value outside its
// range is refused naming its flag, and the ends of each range are accepted.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgprep/core/options.h"

namespace imgprep {
namespace {

Options unusual_options() {
  Options o;
  o.input = "/data/in put";
  o.output = "out/dir";
  o.engine = Engine::cpu;
  o.cpu_engine = EngineKind::procs;
  o.device = 2;
  o.batch = 17;
  o.io_threads = 3;
  o.threads = 5;
  o.in_flight = 29;
  o.workers = 7;
  o.timeout_per_image = 0.25;
  o.exif = false;
  o.shrink_on_load = ShrinkOnLoad::max;
  o.max_pixels = 123456789012ull;
  o.resize = parse_resize("letterbox:320x240");
  o.crop = parse_crop("center:200x100");
  o.method = {Interp::lanczos, false};
  o.pad_value = 114;
  o.bgr = true;
  o.scale = {1.f / 255.f, 0.1f, 3.f};
  o.mean = {0.485f, 0.456f, 0.406f};
  o.std = {0.229f, 0.224f, 0.225f};
  o.layout = Layout::nhwc;
  o.dtype = DType::float16;
  o.format = OutputFormat::images;
  o.shard_size = 99;
  o.image_format = "webp";
  o.quality = 80;
  o.slice = {2, 5};
  o.classes = "/data/train-out/classes.json";
  o.max_errors = 12;
  o.preset = "clip";
  o.augment = Augment{176, 144, 0.25, 0.75, 0.5, 2.0, 0.3, 0xfedcba9876543210ULL, 17};
  return o;
}

Options round_trip(const Options& o) { return from_json(nlohmann::json::parse(to_json(o).dump())); }

TEST(OptionsJson, EveryFieldComesBack) {
  const Options o = unusual_options();
  const Options r = round_trip(o);
  EXPECT_EQ(r.input, o.input);
  EXPECT_EQ(r.output, o.output);
  EXPECT_EQ(r.engine, o.engine);
  EXPECT_EQ(r.cpu_engine, o.cpu_engine);
  EXPECT_EQ(r.device, o.device);
  EXPECT_EQ(r.batch, o.batch);
  EXPECT_EQ(r.io_threads, o.io_threads);
  EXPECT_EQ(r.threads, o.threads);
  EXPECT_EQ(r.in_flight, o.in_flight);
  EXPECT_EQ(r.workers, o.workers);
  EXPECT_EQ(r.timeout_per_image, o.timeout_per_image);
  EXPECT_EQ(r.exif, o.exif);
  EXPECT_EQ(r.shrink_on_load, o.shrink_on_load);
  EXPECT_EQ(r.max_pixels, o.max_pixels);
  EXPECT_EQ(r.resize.mode, ResizeMode::letterbox);
  EXPECT_EQ(r.resize.width, 320);
  EXPECT_EQ(r.resize.height, 240);
  EXPECT_TRUE(r.crop.center);
  EXPECT_EQ(r.crop.width, 200);
  EXPECT_EQ(r.crop.height, 100);
  EXPECT_EQ(r.method.interp, Interp::lanczos);
  EXPECT_EQ(r.method.antialias, false);
  EXPECT_EQ(r.pad_value, o.pad_value);
  EXPECT_EQ(r.bgr, o.bgr);
  EXPECT_EQ(r.scale, o.scale);  // bit-exact: the tensors depend on them
  EXPECT_EQ(r.mean, o.mean);
  EXPECT_EQ(r.std, o.std);
  EXPECT_EQ(r.layout, o.layout);
  EXPECT_EQ(r.dtype, o.dtype);
  EXPECT_EQ(r.format, o.format);
  EXPECT_EQ(r.shard_size, o.shard_size);
  EXPECT_EQ(r.image_format, o.image_format);
  EXPECT_EQ(r.quality, o.quality);
  EXPECT_EQ(r.slice.index, 2);
  EXPECT_EQ(r.slice.count, 5);
  EXPECT_EQ(r.classes, o.classes);
  EXPECT_EQ(r.max_errors, o.max_errors);
  EXPECT_EQ(r.preset, o.preset);
  EXPECT_EQ(r.augment, o.augment);  // bit-exact doubles and a full 64-bit seed
  EXPECT_EQ(to_json(r), to_json(o));
  // What procs workers receive: the processing part alone, also bit-exact.
  const ProcessingOptions p = processing_from_json(
      nlohmann::json::parse(to_json(static_cast<const ProcessingOptions&>(o)).dump()));
  EXPECT_EQ(p.augment, o.augment);
  EXPECT_EQ(p.mean, o.mean);
  EXPECT_EQ(p.format, o.format);
}

TEST(OptionsJson, EveryResizeAndCropComesBack) {
  for (const char* resize : {"none", "shorter:256", "longer:512", "640x480", "letterbox:640x640",
                             "shorter:256>", "longer:512>", "640x480>", "letterbox:640x640>"})
    for (const char* crop : {"none", "center:224"}) {
      Options o;
      o.resize = parse_resize(resize);
      o.crop = parse_crop(crop);
      const Options r = round_trip(o);
      EXPECT_EQ(to_string(r.resize), resize);
      EXPECT_EQ(r.crop.center, o.crop.center);
      EXPECT_EQ(r.crop.width, o.crop.width);
    }
}

TEST(OptionsJson, DefaultsComeBack) {
  const Options o;
  EXPECT_EQ(to_json(round_trip(o)), to_json(o));
}

TEST(OptionsJson, AForeignDocumentIsRefused) {
  EXPECT_ANY_THROW(from_json(nlohmann::json::object()));
  // A value no option accepts, for every named field.
  for (const char* key : {"dtype", "layout", "interp", "engine", "cpu_engine", "channels", "format"}) {
    nlohmann::json config = to_json(Options{});
    config[key] = "int7";
    EXPECT_THROW(from_json(config), UsageError) << key;
  }
}

// ---- validate ----

// The message validate throws ("" when it accepts).
std::string refusal(const Options& o) {
  try {
    validate(o);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

Options valid_options() {
  Options o;
  apply_preset(o, "imagenet");
  return o;
}

using Change = std::function<void(Options&)>;

TEST(Validate, EveryValueOutsideItsRangeIsRefusedNamingItsFlag) {
  constexpr float nan = std::numeric_limits<float>::quiet_NaN();
  constexpr float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<const char*, Change>> bad = {
      {"--threads", [](Options& o) { o.threads = -1; }},
      {"--threads", [](Options& o) { o.threads = 4097; }},
      {"--io-threads", [](Options& o) { o.io_threads = 0; }},
      {"--io-threads", [](Options& o) { o.io_threads = 4097; }},
      {"--workers", [](Options& o) { o.workers = -1; }},
      {"--workers", [](Options& o) { o.workers = 4097; }},
      {"--in-flight", [](Options& o) { o.in_flight = -1; }},
      {"--in-flight", [](Options& o) { o.in_flight = 65537; }},
      {"--batch", [](Options& o) { o.batch = 0; }},
      {"--batch", [](Options& o) { o.batch = 65536; }},
      {"--device", [](Options& o) { o.device = -1; }},
      {"--shard-size", [](Options& o) { o.shard_size = 0; }},
      {"--shard-size", [](Options& o) { o.shard_size = -5; }},
      {"--max-errors", [](Options& o) { o.max_errors = -2; }},
      {"--max-pixels", [](Options& o) { o.max_pixels = 0; }},
      {"--pad-value", [](Options& o) { o.pad_value = -1; }},
      {"--pad-value", [](Options& o) { o.pad_value = 256; }},
      {"--quality", [](Options& o) { o.quality = 0; }},
      {"--quality", [](Options& o) { o.quality = 101; }},
      {"--timeout-per-image", [](Options& o) { o.timeout_per_image = 0; }},
      {"--timeout-per-image", [](Options& o) { o.timeout_per_image = std::nan(""); }},
      {"--timeout-per-image", [](Options& o) { o.timeout_per_image = HUGE_VAL; }},
      {"--io-latency", [](Options& o) { o.io_latency_ms = -1; }},
      {"--io-latency", [](Options& o) { o.io_latency_ms = std::nan(""); }},
      {"--io-latency", [](Options& o) { o.io_latency_ms = HUGE_VAL; }},
      {"--scale", [](Options& o) { o.scale[0] = nan; }},
      {"--scale", [](Options& o) { o.scale[2] = -inf; }},
      {"--mean", [](Options& o) { o.mean[1] = inf; }},
      {"--mean", [](Options& o) { o.mean[0] = nan; }},
      {"--std", [](Options& o) { o.std[2] = nan; }},
      {"--std", [](Options& o) { o.std[0] = inf; }},
      {"--std", [](Options& o) { o.std[1] = 0; }},
      // Finite values whose results are not: 255 * 1e30 / 1e-10 overflows float.
      {"--std", [](Options& o) { o.scale = {1e30f, 1e30f, 1e30f}; o.std = {1e-10f, 1, 1}; }},
      {"--resize", [](Options& o) { o.resize = parse_resize("100000x100000"); }},
      {"--resize", [](Options& o) { o.resize = parse_resize("65536x1"); }},
      {"--resize", [](Options& o) { o.resize = parse_resize("16385x16384"); }},
      {"--resize", [](Options& o) { o.resize = parse_resize("letterbox:20000x20000"); }},
      {"--resize", [](Options& o) { o.resize = parse_resize("shorter:16385"); }},
      {"--resize", [](Options& o) { o.resize = parse_resize("longer:65536"); }},
      {"--crop", [](Options& o) { o.crop = parse_crop("center:16385x16384"); }},
      {"--crop", [](Options& o) { o.crop = parse_crop("center:1x65536"); }},
      {"--image-format", [](Options& o) { o.image_format = "gif"; }},
  };
  for (const auto& [flag, change] : bad) {
    Options o = valid_options();
    change(o);
    const std::string message = refusal(o);
    EXPECT_NE(message.find(flag), std::string::npos) << flag << ": '" << message << "'";
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(Validate, TheEndsOfEachRangeAreAccepted) {
  const std::vector<Change> good = {
      [](Options& o) { o.threads = 0; },  // all cores
      [](Options& o) { o.threads = 4096; },
      [](Options& o) { o.io_threads = 1; },
      [](Options& o) { o.io_threads = 4096; },
      [](Options& o) { o.workers = 0; },
      [](Options& o) { o.workers = 4096; },
      [](Options& o) { o.in_flight = 0; },  // automatic
      [](Options& o) { o.in_flight = 1; },
      [](Options& o) { o.in_flight = 65536; },
      [](Options& o) { o.batch = 1; },
      [](Options& o) { o.batch = 65535; },
      [](Options& o) { o.max_errors = -1; },  // no limit
      [](Options& o) { o.max_errors = 0; },   // stop at the first failure
      [](Options& o) { o.max_pixels = 1; },
      [](Options& o) { o.max_pixels = std::numeric_limits<uint64_t>::max(); },
      [](Options& o) { o.pad_value = 255; },
      [](Options& o) { o.quality = 100; },
      [](Options& o) { o.timeout_per_image = 1e6; },
      [](Options& o) { o.io_latency_ms = 60000; },
      [](Options& o) { o.scale = {0, -1, 1e6f}; o.mean = {-1e6f, 0, 1e6f}; },
      [](Options& o) { o.std = {-1, 1e-30f, 1e30f}; },
      [](Options& o) { o.resize = parse_resize("16384x16384"); },
      [](Options& o) { o.resize = parse_resize("65535x1"); },
      [](Options& o) { o.resize = parse_resize("shorter:16384"); },
      [](Options& o) { o.resize = parse_resize("letterbox:4096x65535"); o.crop = {}; },
      [](Options& o) { o.crop = parse_crop("center:1x65535"); },
  };
  for (size_t i = 0; i < good.size(); ++i) {
    Options o = valid_options();
    good[i](o);
    EXPECT_EQ(refusal(o), "") << "case " << i;
  }
}

TEST(ParseTriplet, MessagesNameTheFlag) {
  for (const char* text : {"a", "1,2", "1,2,3,4", "1e39", "1e-45", "1,,2"}) {
    try {
      parse_triplet(text, "--mean");
      ADD_FAILURE() << text << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--mean: ", 0), 0u) << e.what();
    }
  }
  EXPECT_EQ(parse_triplet("0.5", "--std"), (std::array<float, 3>{0.5f, 0.5f, 0.5f}));
  EXPECT_EQ(parse_triplet("1,2,3", "--std"), (std::array<float, 3>{1, 2, 3}));
}

}  // namespace
}  // namespace imgprep

// from_json(to_json(options)), as the procs engine hands options to its workers (through the
// text of the JSON document): every field a worker could use comes back equal to the original,
// for options that differ from the defaults everywhere.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "imgprep/pipeline/options.h"

namespace imgprep {
namespace {

Options unusual_options() {
  Options o;
  o.input = "/data/in put";
  o.output = "out/dir";
  o.engine = Engine::cpu;
  o.cpu_engine = CpuEngine::procs;
  o.device = 2;
  o.batch = 17;
  o.io_threads = 3;
  o.threads = 5;
  o.in_flight = 29;
  o.workers = 7;
  o.timeout_per_image = 0.25;
  o.exif = false;
  o.shrink_on_load = false;
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
  o.shard = {2, 5};
  o.max_errors = 12;
  o.preset = "clip";
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
  EXPECT_EQ(r.shard.index, 2);
  EXPECT_EQ(r.shard.count, 5);
  EXPECT_EQ(r.max_errors, o.max_errors);
  EXPECT_EQ(r.preset, o.preset);
  EXPECT_EQ(to_json(r), to_json(o));
}

TEST(OptionsJson, EveryResizeAndCropComesBack) {
  for (const char* resize : {"none", "shorter:256", "longer:512", "640x480", "letterbox:640x640"})
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

}  // namespace
}  // namespace imgprep

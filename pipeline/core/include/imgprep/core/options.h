// Everything a run is configured with, the presets, and parsing of the option strings the
// command line accepts. Plain data; copy freely.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

#include <nlohmann/json_fwd.hpp>

#include "imgprep/datasets/input_list.h"
#include "imgprep/kernels/geometry.h"
#include "imgprep/kernels/output_spec.h"
#include "imgprep/kernels/resample_plan.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/core/augment.h"
#include "imgprep/core/engine_kind.h"

namespace imgprep {

// npy: tensor shards; images: image files; wds, wds_images: WebDataset tar shards whose samples
// hold a tensor (.npy) or an image file (.jpg, .png, .webp).
enum class OutputFormat { npy, images, wds, wds_images };
enum class Engine { automatic, cpu, gpu };  // --engine: which engines a run may take
enum class DecodeOn { cpu, gpu };           // --decode: where JPEGs are decoded

// What the per-image work depends on: decoding, geometry, values and the output encoding.
struct ProcessingOptions {
  // Decoding.
  bool exif = true;
  ShrinkOnLoad shrink_on_load = ShrinkOnLoad::automatic;
  uint64_t max_pixels = 178956970;
  // gpu (GPU engine): the JPEGs the GPU's decoder takes are decoded there, except a share of
  // them, chosen by each input's key (never by timing), that the CPU cores decode alongside.
  DecodeOn decode = DecodeOn::cpu;
  double cpu_decode_share = 0.3;

  // Geometry.
  ResizeSpec resize;
  CropSpec crop;
  ResampleMethod method;
  int pad_value = 0;

  // Values.
  bool bgr = false;
  std::array<float, 3> scale{1.f / 255.f, 1.f / 255.f, 1.f / 255.f};
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{1.f, 1.f, 1.f};
  Layout layout = Layout::nchw;
  DType dtype = DType::float32;

  // Outputs.
  OutputFormat format = OutputFormat::npy;
  std::string image_format = "jpg";
  int quality = 95;
  bool strip = false;  // image outputs leave out the input's metadata (its ICC profile)

  // Seeded training augmentation (the Python loader's); a resized crop replaces resize and crop.
  Augment augment;

  std::string preset;  // informational: the preset the values came from

  // The output's size when it is the same for every image; 0 x 0 when it varies.
  std::pair<int, int> fixed_output_size() const;
};

// What the run as a whole is configured with: paths, engines, parallelism, the input slice, resume,
// progress.
struct RunOptions {
  std::filesystem::path input;
  std::filesystem::path output;

  // Engines.
  Engine engine = Engine::automatic;  // GPU when the build and the machine have one
  EngineKind cpu_engine = EngineKind::tbb;  // tbb or procs: the CPU engine, when it is chosen
  int device = 0;                     // CUDA device
  int batch = 64;                     // images per GPU batch

  // Parallelism.
  int io_threads = 4;
  int threads = 0;    // 0: all cores
  int in_flight = 0;  // images read but not yet written; 0: automatic
  int workers = 0;    // worker processes of --cpu-engine procs; 0: all cores
  double timeout_per_image = 30;  // seconds a procs worker may spend on one image
  double io_latency_ms = 0;  // added to every file read: simulated slow storage (imgprep bench)

  // Outputs.
  int shard_size = 1024;
  InputSlice slice;  // --shard K/N: the part of the ordered inputs this run takes
  std::filesystem::path classes;  // --classes: the label of each class name; empty: sorted order

  // The run.
  bool resume = false;  // continue an interrupted run in OUT
  bool dry_run = false;  // list what a run would do, decoding and writing nothing
  bool quiet = false;
  int64_t max_errors = -1;  // stop when more failed; 0: at the first failure; -1: no limit

  int resolved_threads() const;
  int resolved_workers() const;
  // Images in flight for an engine running `parallel` decoders (threads or worker processes).
  int in_flight_for(int parallel) const;
  // ...for the CPU engine cpu_engine picks.
  int resolved_in_flight() const;
};

// Everything a run is configured with. Field names are those of its two parts.
struct Options : ProcessingOptions, RunOptions {};

// Bad option values; the message is shown as is.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// imagenet, clip or yolo; throws UsageError for other names.
void apply_preset(Options& options, const std::string& name);

// shorter:S longer:S WxH letterbox:WxH none; a '>' after the size sets no_upscale.
ResizeSpec parse_resize(const std::string& text);
CropSpec parse_crop(const std::string& text);      // center:WxH center:S none
Interp parse_interp(const std::string& text);  // also bilinear, bicubic, box
// "a,b,c" or "a"; messages name `flag`.
std::array<float, 3> parse_triplet(const std::string& text, const std::string& flag);
InputSlice parse_slice(const std::string& text);  // --shard "K/N"

std::string to_string(const ResizeSpec& resize);
std::string to_string(const CropSpec& crop);
const char* to_string(Interp interp);
const char* to_string(Layout layout);
const char* to_string(DType dtype);
const char* to_string(Engine engine);
Engine parse_engine(const std::string& text);
// --cpu-engine: tbb or procs (the engine names of engine_kind.h); throws UsageError.
EngineKind parse_cpu_engine(const std::string& text);
const char* to_string(ShrinkOnLoad shrink);
const char* to_string(DecodeOn decode);
DecodeOn parse_decode(const std::string& text);  // cpu gpu
ShrinkOnLoad parse_shrink_on_load(const std::string& text);  // off auto max
Layout parse_layout(const std::string& text);  // nchw nhwc
DType parse_dtype(const std::string& text);    // float32 float16 uint8
const char* to_string(OutputFormat format);
OutputFormat parse_format(const std::string& text);  // npy images wds wds-images
// What a format writes: tensors (npy, wds) or encoded images (images, wds-images), and whether
// it writes numbered shards of --shard-size inputs, journalled for --resume (npy, wds,
// wds-images).
constexpr bool writes_tensors(OutputFormat f) {
  return f == OutputFormat::npy || f == OutputFormat::wds;
}
constexpr bool writes_images(OutputFormat f) { return !writes_tensors(f); }
constexpr bool writes_shards(OutputFormat f) { return f != OutputFormat::images; }
constexpr bool writes_tars(OutputFormat f) {
  return f == OutputFormat::wds || f == OutputFormat::wds_images;
}
const char* channels_name(bool bgr);                 // rgb bgr
bool parse_channels_bgr(const std::string& text);    // true for bgr

// Checks every value's range (finite numbers, sizes, thread counts; the limits are in
// options.cpp) and the combinations (e.g. npy needs a fixed output size); throws UsageError
// naming the flag.
void validate(const Options& options);

// The full resolved configuration, as recorded in meta.json.
nlohmann::json to_json(const Options& options);
// The inverse of to_json. Throws UsageError or nlohmann::json::exception for a document that
// to_json did not write.
Options from_json(const nlohmann::json& config);
// The processing part alone (how the procs engine hands it to worker processes), and back.
nlohmann::json to_json(const ProcessingOptions& options);
ProcessingOptions processing_from_json(const nlohmann::json& config);
// The settings that decide the output bytes (what --resume requires to be unchanged).
nlohmann::json output_settings(const Options& options);

}  // namespace imgprep

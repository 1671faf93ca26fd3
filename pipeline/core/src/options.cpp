#include "imgprep/core/options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgprep/kernels/pixel_math.h"

namespace imgprep {
namespace {

int parse_positive(const std::string& text, const std::string& what) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v <= 0)
    throw UsageError(what + ": expected a positive integer, got '" + text + "'");
  return v;
}

std::pair<int, int> parse_wxh(const std::string& text, const std::string& what) {
  const size_t x = text.find('x');
  if (x == std::string::npos) throw UsageError(what + ": expected WxH, got '" + text + "'");
  return {parse_positive(text.substr(0, x), what), parse_positive(text.substr(x + 1), what)};
}

// Each enum's names, one table for both directions. The first entry for a value is its name;
// later ones are accepted aliases.
template <class E>
struct Named {
  E value;
  const char* name;
};

template <class E, size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
  for (const Named<E>& entry : table)
    if (entry.value == value) return entry.name;
  return table[0].name;
}

// Throws UsageError naming flag and the accepted names ("a, b or c").
template <class E, size_t N>
E parse_name(const Named<E> (&table)[N], const std::string& text, const char* flag) {
  std::vector<const char*> names;
  for (const Named<E>& entry : table) {
    if (text == entry.name) return entry.value;
    if (entry.name == name_of(table, entry.value)) names.push_back(entry.name);
  }
  std::string expected;
  for (size_t i = 0; i < names.size(); ++i)
    expected += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + std::string(names[i]);
  throw UsageError(std::string(flag) + ": expected " + expected + ", got '" + text + "'");
}

constexpr Named<Interp> kInterps[] = {
    {Interp::nearest, "nearest"}, {Interp::linear, "linear"}, {Interp::cubic, "cubic"},
    {Interp::area, "area"},       {Interp::lanczos, "lanczos"}, {Interp::linear, "bilinear"},
    {Interp::cubic, "bicubic"},   {Interp::area, "box"}};
constexpr Named<Layout> kLayouts[] = {{Layout::nchw, "nchw"}, {Layout::nhwc, "nhwc"}};
constexpr Named<DType> kDTypes[] = {
    {DType::float32, "float32"}, {DType::float16, "float16"}, {DType::uint8, "uint8"}};
constexpr Named<Engine> kEngines[] = {
    {Engine::automatic, "auto"}, {Engine::cpu, "cpu"}, {Engine::gpu, "gpu"}};
constexpr Named<DecodeOn> kDecodes[] = {{DecodeOn::cpu, "cpu"}, {DecodeOn::gpu, "gpu"}};
constexpr Named<ShrinkOnLoad> kShrinks[] = {
    {ShrinkOnLoad::off, "off"}, {ShrinkOnLoad::automatic, "auto"}, {ShrinkOnLoad::max, "max"}};
constexpr Named<OutputFormat> kFormats[] = {
    {OutputFormat::npy, "npy"},
    {OutputFormat::images, "images"},
    {OutputFormat::wds, "wds"},
    {OutputFormat::wds_images, "wds-images"}};
constexpr Named<bool> kChannels[] = {{false, "rgb"}, {true, "bgr"}};

// Threads, I/O threads and worker processes: more than any machine has cores, and far fewer
// than the thread and process limits of a Linux system (each costs a stack or a process).
constexpr int kMaxThreads = 4096;
// Images between reading and writing, each holding its file and its decoded pixels.
constexpr int kMaxInFlight = 65536;
// A side of any resize or crop: the largest side a JPEG can have.
constexpr int kMaxSide = 65535;
// Pixels of an output image, and of the resized image a crop is taken from: 3 GiB as float32
// RGB, beyond which every image would fail for lack of memory.
constexpr int64_t kMaxOutputPixels = int64_t{1} << 28;  // 16384 x 16384

std::string number_text(double v) {
  std::ostringstream text;
  text << v;
  return text.str();
}

// Throws "FLAG must be in LO..HI NOTE, got V".
void check_range(int64_t v, int64_t lo, int64_t hi, const char* flag, const char* note = "") {
  if (v < lo || v > hi)
    throw UsageError(std::string(flag) + " must be in " + std::to_string(lo) + ".." +
                     std::to_string(hi) + note + ", got " + std::to_string(v));
}

// Throws "FLAG must be at least LO NOTE, got V".
void check_min(int64_t v, int64_t lo, const char* flag, const char* note = "") {
  if (v < lo)
    throw UsageError(std::string(flag) + " must be at least " + std::to_string(lo) + note +
                     ", got " + std::to_string(v));
}

// W x H of a resize or crop, named by `what` (the flag and its value) in the message.
void check_size(int64_t w, int64_t h, const std::string& what) {
  if (w < 1 || h < 1 || w > kMaxSide || h > kMaxSide)
    throw UsageError(what + ": each side must be in 1.." + std::to_string(kMaxSide));
  if (w * h > kMaxOutputPixels)
    throw UsageError(what + ": " + std::to_string(w) + "x" + std::to_string(h) + " is " +
                     std::to_string(w * h) + " pixels, more than the " +
                     std::to_string(kMaxOutputPixels) + " (16384x16384) an image may have");
}

// shorter:S and longer:S are held to an S x S image: the smallest output of the one and the
// largest of the other.
void validate_geometry(const ResizeSpec& resize, const CropSpec& crop) {
  const std::string resize_text = "--resize " + to_string(resize);
  switch (resize.mode) {
    case ResizeMode::none: break;
    case ResizeMode::shorter:
    case ResizeMode::longer: check_size(resize.size, resize.size, resize_text); break;
    case ResizeMode::stretch:
    case ResizeMode::letterbox: check_size(resize.width, resize.height, resize_text); break;
  }
  if (crop.center) check_size(crop.width, crop.height, "--crop " + to_string(crop));
}

// Finite values, and finite results for every pixel value: a NaN or infinite scale, mean or std
// would fill every tensor with NaN or infinity.
void validate_normalization(const Options& o) {
  const std::pair<const char*, const std::array<float, 3>&> triplets[] = {
      {"--scale", o.scale}, {"--mean", o.mean}, {"--std", o.std}};
  for (const auto& [flag, values] : triplets)
    for (float v : values)
      if (!std::isfinite(v))
        throw UsageError(std::string(flag) + " must be finite, got " + number_text(v));
  for (int c = 0; c < 3; ++c) {
    if (o.std[c] == 0.f) throw UsageError("--std must not be zero");
    for (float q : {0.f, 255.f})
      if (!std::isfinite(normalize(q, o.scale[c], o.mean[c], o.std[c])))
        throw UsageError("--scale, --mean and --std take pixel value " + number_text(q) +
                         " of channel " + "RGB"[c] + " beyond float's range");
  }
}

// RandomResizedCrop's and RandomHorizontalFlip's parameters, with torchvision's names.
void validate_augment(const Options& o) {
  const Augment& a = o.augment;
  if (a.resized_crop()) {
    check_size(a.crop_w, a.crop_h, "RandomResizedCrop size");
    if (o.resize.mode != ResizeMode::none || o.crop.center)
      throw UsageError("RandomResizedCrop replaces resize and crop: leave them none");
  }
  if (!(a.scale_min > 0 && a.scale_min <= a.scale_max && std::isfinite(a.scale_max)))
    throw UsageError("RandomResizedCrop scale: expected 0 < min <= max, got (" +
                     number_text(a.scale_min) + ", " + number_text(a.scale_max) + ")");
  if (!(a.ratio_min > 0 && a.ratio_min <= a.ratio_max && std::isfinite(a.ratio_max)))
    throw UsageError("RandomResizedCrop ratio: expected 0 < min <= max, got (" +
                     number_text(a.ratio_min) + ", " + number_text(a.ratio_max) + ")");
  if (!(a.flip_p >= 0 && a.flip_p <= 1))
    throw UsageError("RandomHorizontalFlip p: expected 0..1, got " + number_text(a.flip_p));
}

}  // namespace

std::pair<int, int> ProcessingOptions::fixed_output_size() const {
  if (augment.resized_crop()) return {augment.crop_w, augment.crop_h};
  if (!has_fixed_output_size(resize, crop)) return {0, 0};
  const Placement p = place(1, 1, resize, crop);
  return {p.out_w, p.out_h};
}

int RunOptions::resolved_threads() const {
  return threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
}

int RunOptions::resolved_workers() const {
  return workers > 0 ? workers : std::max(1u, std::thread::hardware_concurrency());
}

// Two images per thread (procs: per worker, one being processed and one waiting in its slot).
int RunOptions::in_flight_for(int parallel) const {
  return in_flight > 0 ? in_flight : 2 * parallel + io_threads + 2;
}

int RunOptions::resolved_in_flight() const {
  return in_flight_for(cpu_engine == EngineKind::procs ? resolved_workers() : resolved_threads());
}

void apply_preset(Options& o, const std::string& name) {
  if (name == "imagenet") {
    o.resize = {ResizeMode::shorter, 256, 0, 0};
    o.crop = {true, 224, 224};
    o.method = {Interp::linear, true};
    o.mean = {0.485f, 0.456f, 0.406f};
    o.std = {0.229f, 0.224f, 0.225f};
  } else if (name == "clip") {
    o.resize = {ResizeMode::shorter, 224, 0, 0};
    o.crop = {true, 224, 224};
    o.method = {Interp::cubic, true};
    o.mean = {0.48145466f, 0.4578275f, 0.40821073f};
    o.std = {0.26862954f, 0.26130258f, 0.27577711f};
  } else if (name == "yolo") {
    o.resize = {ResizeMode::letterbox, 0, 640, 640};
    o.crop = {};
    o.method = {Interp::linear, false};  // cv2.resize(INTER_LINEAR), as Ultralytics' LetterBox
    o.pad_value = 114;
    o.mean = {0.f, 0.f, 0.f};
    o.std = {1.f, 1.f, 1.f};
  } else {
    throw UsageError("unknown preset '" + name + "' (expected imagenet, clip or yolo)");
  }
  o.bgr = false;
  o.scale = {1.f / 255.f, 1.f / 255.f, 1.f / 255.f};
  o.layout = Layout::nchw;
  o.dtype = DType::float32;
  o.preset = name;
}

ResizeSpec parse_resize(const std::string& given) {
  ResizeSpec r;
  if (given == "none") return r;
  // ImageMagick's '>': only shrink larger images.
  r.no_upscale = given.ends_with('>');
  const std::string text = given.substr(0, given.size() - (r.no_upscale ? 1 : 0));
  const size_t colon = text.find(':');
  const std::string kind = colon == std::string::npos ? "" : text.substr(0, colon);
  const std::string arg = colon == std::string::npos ? text : text.substr(colon + 1);
  if (kind == "shorter" || kind == "longer") {
    r.mode = kind == "shorter" ? ResizeMode::shorter : ResizeMode::longer;
    r.size = parse_positive(arg, "--resize");
  } else if (kind.empty() && !text.empty() &&
             text.find_first_not_of("0123456789") == std::string::npos) {
    // A bare number is how torchvision's Resize(S) reads: name its spelling here.
    throw UsageError("--resize: expected shorter:S, longer:S, WxH or letterbox:WxH, got '" +
                     given + "' (torchvision's Resize(" + text + ") is shorter:" + text + ")");
  } else if (kind == "letterbox" || kind.empty()) {
    r.mode = kind.empty() ? ResizeMode::stretch : ResizeMode::letterbox;
    std::tie(r.width, r.height) = parse_wxh(arg, "--resize");
  } else {
    throw UsageError("--resize: expected shorter:S, longer:S, WxH or letterbox:WxH, got '" +
                     given + "'");
  }
  return r;
}

CropSpec parse_crop(const std::string& text) {
  if (text == "none") return {};
  if (text.rfind("center:", 0) != 0)
    throw UsageError("--crop: expected center:WxH or center:S, got '" + text + "'");
  const std::string arg = text.substr(7);
  if (arg.find('x') == std::string::npos) {
    const int s = parse_positive(arg, "--crop");
    return {true, s, s};
  }
  const auto [w, h] = parse_wxh(arg, "--crop");
  return {true, w, h};
}

std::array<float, 3> parse_triplet(const std::string& text, const std::string& flag) {
  const std::string expected =
      flag + ": expected a number or three comma-separated numbers, got '" + text + "'";
  std::vector<float> values;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t used = 0;
      values.push_back(std::stof(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::out_of_range&) {  // also tiny numbers that would lose precision
      throw UsageError(flag + ": " + part + " is outside float's range");
    } catch (const std::exception&) {
      throw UsageError(expected);
    }
  }
  if (values.size() == 1) return {values[0], values[0], values[0]};
  if (values.size() != 3) throw UsageError(expected);
  return {values[0], values[1], values[2]};
}

InputSlice parse_slice(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) throw UsageError("--shard: expected K/N, got '" + text + "'");
  InputSlice s;
  const std::string k = text.substr(0, slash);
  const auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), s.index);
  if (ec != std::errc() || end != k.data() + k.size())
    throw UsageError("--shard: expected K/N, got '" + text + "'");
  s.count = parse_positive(text.substr(slash + 1), "--shard");
  if (s.index < 0 || s.index >= s.count)
    throw UsageError("--shard K/N needs 0 <= K < N, got '" + text + "'");
  return s;
}

std::string to_string(const ResizeSpec& r) {
  const std::string wxh = std::to_string(r.width) + "x" + std::to_string(r.height);
  const std::string shrink_only = r.no_upscale ? ">" : "";
  switch (r.mode) {
    case ResizeMode::none: return "none";
    case ResizeMode::shorter: return "shorter:" + std::to_string(r.size) + shrink_only;
    case ResizeMode::longer: return "longer:" + std::to_string(r.size) + shrink_only;
    case ResizeMode::stretch: return wxh + shrink_only;
    case ResizeMode::letterbox: return "letterbox:" + wxh + shrink_only;
  }
  return "none";
}

std::string to_string(const CropSpec& c) {
  return c.center ? "center:" + std::to_string(c.width) + "x" + std::to_string(c.height) : "none";
}

const char* to_string(Interp interp) { return name_of(kInterps, interp); }
Interp parse_interp(const std::string& text) { return parse_name(kInterps, text, "--interp"); }
const char* to_string(Layout layout) { return name_of(kLayouts, layout); }
Layout parse_layout(const std::string& text) { return parse_name(kLayouts, text, "--layout"); }
const char* to_string(DType dtype) { return name_of(kDTypes, dtype); }
DType parse_dtype(const std::string& text) { return parse_name(kDTypes, text, "--dtype"); }
const char* to_string(Engine engine) { return name_of(kEngines, engine); }
Engine parse_engine(const std::string& text) { return parse_name(kEngines, text, "--engine"); }
EngineKind parse_cpu_engine(const std::string& text) {
  // The CPU engines a run may take; their names are engine_kind.h's.
  constexpr EngineKind kCpuEngines[] = {EngineKind::tbb, EngineKind::procs};
  for (EngineKind kind : kCpuEngines)
    if (text == to_string(kind)) return kind;
  throw UsageError(std::string("--cpu-engine: expected ") + to_string(kCpuEngines[0]) + " or " +
                   to_string(kCpuEngines[1]) + ", got '" + text + "'");
}
const char* to_string(DecodeOn decode) { return name_of(kDecodes, decode); }
DecodeOn parse_decode(const std::string& text) { return parse_name(kDecodes, text, "--decode"); }
const char* to_string(ShrinkOnLoad shrink) { return name_of(kShrinks, shrink); }
ShrinkOnLoad parse_shrink_on_load(const std::string& text) {
  return parse_name(kShrinks, text, "--shrink-on-load");
}
const char* to_string(OutputFormat format) { return name_of(kFormats, format); }
OutputFormat parse_format(const std::string& text) {
  return parse_name(kFormats, text, "--format");
}
const char* channels_name(bool bgr) { return name_of(kChannels, bgr); }
bool parse_channels_bgr(const std::string& text) {
  return parse_name(kChannels, text, "--channels");
}

void validate(const Options& o) {
  if (o.resume && !writes_shards(o.format))
    throw UsageError("--resume continues shards; --format images has none to resume");
  if (o.resize.mode == ResizeMode::none && o.resize.no_upscale)
    throw UsageError("--no-upscale needs a --resize (shorter:S, longer:S, WxH or letterbox:WxH)");
  validate_augment(o);
  if (writes_tensors(o.format) && o.fixed_output_size().first == 0)
    throw UsageError(
        std::string(o.format == OutputFormat::npy ? "npy shards" : "wds tensors") +
        " need one output size for every image: add --crop center:WxH, use "
        "--resize WxH (not shrink-only) or letterbox:WxH, or a --preset");
  validate_geometry(o.resize, o.crop);
  check_range(o.threads, 0, kMaxThreads, "--threads", " (0: all cores)");
  check_range(o.io_threads, 1, kMaxThreads, "--io-threads");
  check_range(o.workers, 0, kMaxThreads, "--workers", " (0: all cores)");
  check_range(o.in_flight, 0, kMaxInFlight, "--in-flight", " (0: automatic)");
  check_range(o.batch, 1, 65535, "--batch");
  check_min(o.device, 0, "--device");
  if (!(o.timeout_per_image > 0 && o.timeout_per_image <= 1e6))
    throw UsageError("--timeout-per-image must be in (0, 1000000] seconds, got " +
                     number_text(o.timeout_per_image));
  if (!(o.io_latency_ms >= 0 && o.io_latency_ms <= 60000))
    throw UsageError("--io-latency must be in 0..60000 milliseconds, got " +
                     number_text(o.io_latency_ms));
  if (o.max_pixels == 0) throw UsageError("--max-pixels must be at least 1, got 0");
  if (!(o.cpu_decode_share >= 0 && o.cpu_decode_share <= 1))
    throw UsageError("--cpu-decode-share must be in [0, 1], got " +
                     number_text(o.cpu_decode_share));
  if (o.decode == DecodeOn::gpu && o.engine == Engine::cpu)
    throw UsageError("--decode gpu needs the GPU engine (--engine gpu or auto)");
  check_range(o.pad_value, 0, 255, "--pad-value");
  validate_normalization(o);
  check_min(o.shard_size, 1, "--shard-size");
  if (o.image_format != "jpg" && o.image_format != "png" && o.image_format != "webp")
    throw UsageError("--image-format: expected jpg, png or webp, got '" + o.image_format + "'");
  check_range(o.quality, 1, 100, "--quality");
  check_min(o.max_errors, -1, "--max-errors", " (0: stop at the first failed input; -1: no limit)");
}

namespace {

using nlohmann::json;

// One setting as meta.json's "config" records it: its key, how it is written and read back,
// and whether it decides the output bytes (what --resume requires to be unchanged). Each part of
// the options has its table; to_json, from_json and output_settings all follow them.
template <class Part>
struct Field {
  const char* key;
  bool decides_output;
  json (*get)(const Part&);
  void (*set)(Part&, const json&);
};

constexpr bool kOutput = true, kRun = false;

// The part (ProcessingOptions or RunOptions) that declares a member.
template <class Member>
struct PartOfMember;
template <class T, class Part>
struct PartOfMember<T Part::*> {
  using type = Part;
};
template <auto member>
using PartOf = typename PartOfMember<decltype(member)>::type;

// A member held in JSON as is.
template <auto member>
constexpr Field<PartOf<member>> plain(const char* key, bool decides_output) {
  using Part = PartOf<member>;
  return {key, decides_output, [](const Part& o) { return json(o.*member); },
          [](Part& o, const json& j) { j.get_to(o.*member); }};
}

// A path, held as its text.
template <auto member>
constexpr Field<PartOf<member>> path(const char* key, bool decides_output) {
  using Part = PartOf<member>;
  return {key, decides_output, [](const Part& o) { return json((o.*member).string()); },
          [](Part& o, const json& j) { o.*member = j.get<std::string>(); }};
}

std::string text_of(const json& j) { return j.get<std::string>(); }

// A field stored by its name: to_string writes it, `parse` reads it back.
template <auto member, auto parse>
constexpr Field<PartOf<member>> named(const char* key, bool decides_output) {
  using Part = PartOf<member>;
  return {key, decides_output, [](const Part& o) { return json(to_string(o.*member)); },
          [](Part& o, const json& j) { o.*member = parse(text_of(j)); }};
}

using ProcessingField = Field<ProcessingOptions>;
using RunField = Field<RunOptions>;

// What the per-image work needs (and procs workers receive).
const ProcessingField kProcessingFields[] = {
    plain<&Options::exif>("exif", kOutput),
    named<&Options::shrink_on_load, parse_shrink_on_load>("shrink_on_load", kOutput),
    plain<&Options::max_pixels>("max_pixels", kOutput),
    named<&Options::decode, parse_decode>("decode", kOutput),
    plain<&Options::cpu_decode_share>("cpu_decode_share", kOutput),
    named<&Options::resize, parse_resize>("resize", kOutput),
    named<&Options::crop, parse_crop>("crop", kOutput),
    {"interp", kOutput, [](const ProcessingOptions& o) { return json(to_string(o.method.interp)); },
     [](ProcessingOptions& o, const json& j) { o.method.interp = parse_interp(text_of(j)); }},
    {"antialias", kOutput, [](const ProcessingOptions& o) { return json(o.method.antialias); },
     [](ProcessingOptions& o, const json& j) { j.get_to(o.method.antialias); }},
    plain<&Options::pad_value>("pad_value", kOutput),
    {"channels", kOutput, [](const ProcessingOptions& o) { return json(channels_name(o.bgr)); },
     [](ProcessingOptions& o, const json& j) { o.bgr = parse_channels_bgr(text_of(j)); }},
    plain<&Options::scale>("scale", kOutput),
    plain<&Options::mean>("mean", kOutput),
    plain<&Options::std>("std", kOutput),
    named<&Options::layout, parse_layout>("layout", kOutput),
    named<&Options::dtype, parse_dtype>("dtype", kOutput),
    named<&Options::format, parse_format>("format", kOutput),
    plain<&Options::image_format>("image_format", kOutput),
    plain<&Options::quality>("quality", kOutput),
    plain<&Options::strip>("strip", kOutput),
    {"augment", kOutput,
     [](const ProcessingOptions& o) {
       const Augment& a = o.augment;
       return json{{"resized_crop", {a.crop_w, a.crop_h}},
                   {"scale", {a.scale_min, a.scale_max}},
                   {"ratio", {a.ratio_min, a.ratio_max}},
                   {"flip_p", a.flip_p},
                   {"seed", a.seed},
                   {"epoch", a.epoch}};
     },
     [](ProcessingOptions& o, const json& j) {
       Augment& a = o.augment;
       j.at("resized_crop").at(0).get_to(a.crop_w);
       j.at("resized_crop").at(1).get_to(a.crop_h);
       j.at("scale").at(0).get_to(a.scale_min);
       j.at("scale").at(1).get_to(a.scale_max);
       j.at("ratio").at(0).get_to(a.ratio_min);
       j.at("ratio").at(1).get_to(a.ratio_max);
       j.at("flip_p").get_to(a.flip_p);
       j.at("seed").get_to(a.seed);
       j.at("epoch").get_to(a.epoch);
     }},
    plain<&Options::preset>("preset", kRun),
};

// The threads, in-flight images and workers are written resolved (0 becomes the count a run
// uses) and read back as given.
const RunField kRunFields[] = {
    path<&Options::input>("input", kOutput),
    path<&Options::output>("output", kRun),
    named<&Options::engine, parse_engine>("engine", kRun),
    named<&Options::cpu_engine, parse_cpu_engine>("cpu_engine", kRun),
    plain<&Options::device>("device", kRun),
    plain<&Options::batch>("batch", kRun),
    plain<&Options::io_threads>("io_threads", kRun),
    {"threads", kRun, [](const RunOptions& o) { return json(o.resolved_threads()); },
     [](RunOptions& o, const json& j) { j.get_to(o.threads); }},
    {"in_flight", kRun, [](const RunOptions& o) { return json(o.resolved_in_flight()); },
     [](RunOptions& o, const json& j) { j.get_to(o.in_flight); }},
    {"workers", kRun, [](const RunOptions& o) { return json(o.resolved_workers()); },
     [](RunOptions& o, const json& j) { j.get_to(o.workers); }},
    plain<&Options::timeout_per_image>("timeout_per_image", kRun),
    plain<&Options::io_latency_ms>("io_latency_ms", kRun),
    plain<&Options::shard_size>("shard_size", kOutput),
    {"shard", kOutput,
     [](const RunOptions& o) {
       return json(std::to_string(o.slice.index) + "/" + std::to_string(o.slice.count));
     },
     [](RunOptions& o, const json& j) { o.slice = parse_slice(text_of(j)); }},
    path<&Options::classes>("classes", kOutput),
    plain<&Options::max_errors>("max_errors", kRun),
};

// Adds the fields of one part to `config`; only those deciding the output with `deciding`.
template <class Part, size_t N>
void write_fields(const Field<Part> (&fields)[N], const Part& part, json& config,
                  bool deciding = false) {
  for (const Field<Part>& f : fields)
    if (!deciding || f.decides_output) config[f.key] = f.get(part);
}

template <class Part, size_t N>
void read_fields(const Field<Part> (&fields)[N], const json& config, Part& part) {
  for (const Field<Part>& f : fields) f.set(part, config.at(f.key));
}

}  // namespace

nlohmann::json output_settings(const Options& o) {
  json settings = json::object();
  write_fields(kProcessingFields, static_cast<const ProcessingOptions&>(o), settings, true);
  write_fields(kRunFields, static_cast<const RunOptions&>(o), settings, true);
  return settings;
}

nlohmann::json to_json(const ProcessingOptions& o) {
  json config = json::object();
  write_fields(kProcessingFields, o, config);
  return config;
}

nlohmann::json to_json(const Options& o) {
  json config = to_json(static_cast<const ProcessingOptions&>(o));
  write_fields(kRunFields, static_cast<const RunOptions&>(o), config);
  return config;
}

ProcessingOptions processing_from_json(const nlohmann::json& j) {
  ProcessingOptions o;
  read_fields(kProcessingFields, j, o);
  return o;
}

Options from_json(const nlohmann::json& j) {
  Options o;
  static_cast<ProcessingOptions&>(o) = processing_from_json(j);
  read_fields(kRunFields, j, static_cast<RunOptions&>(o));
  return o;
}

}  // namespace imgprep

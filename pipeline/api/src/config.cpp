// The command's settings, declared once: the command line, the Python package and every other
// caller of resolve_config read the same names, values and rules.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>

#include "imgprep/imgprep.h"

namespace imgprep {
namespace {

using Kind = Setting::Kind;
using V = SettingValue;
constexpr bool kRunOnly = true, kBoth = false;

// Sections of --help, in the order they first appear there.
constexpr const char* kInputs = "Inputs";
constexpr const char* kGeometry = "Geometry";
constexpr const char* kValues = "Values";
constexpr const char* kOutput = "Output";
constexpr const char* kEngines = "Engines";
constexpr const char* kRunControl = "Run control";

const Setting kSettings[] = {
    // Decoding.
    {"no-exif", nullptr, kInputs, "ignore EXIF orientation (applied by default)", Kind::flag,
     kBoth, [](Options& o, const V&) { o.exif = false; }},
    {"shrink-on-load", nullptr, kInputs,
     "decode large JPEGs at 1/2, 1/4 or 1/8 scale: auto (default; only well above the resized "
     "size, output within a level of a full decode), max (fastest, inexact) or off",
     Kind::text, kBoth,
     [](Options& o, const V& v) { o.shrink_on_load = parse_shrink_on_load(v.text); }},
    {"no-shrink-on-load", nullptr, kInputs, "same as --shrink-on-load off", Kind::flag, kBoth,
     [](Options& o, const V&) { o.shrink_on_load = ShrinkOnLoad::off; }},
    {"decode", nullptr, kInputs,
     "where JPEGs are decoded: cpu (default) or gpu (the GPU engine's JPEG decoder, for the "
     "JPEGs it takes; others on the CPU; no shrink-on-load)",
     Kind::text, kRunOnly, [](Options& o, const V& v) { o.decode = parse_decode(v.text); }},
    {"cpu-decode-share", nullptr, kInputs,
     "with --decode gpu: the share of the GPU's JPEGs that the CPU cores decode alongside it, "
     "0..1, chosen by input position (default 0.3)",
     Kind::number, kBoth, [](Options& o, const V& v) { o.cpu_decode_share = v.number; }},
    // Read signed: as an unsigned number, -1 would wrap around to no limit at all.
    {"max-pixels", nullptr, kInputs, "refuse larger images, 1 or more (default 178956970)",
     Kind::big_integer, kBoth,
     [](Options& o, const V& v) {
       if (v.integer < 1)
         throw UsageError("--max-pixels must be at least 1, got " + std::to_string(v.integer));
       o.max_pixels = static_cast<uint64_t>(v.integer);
     }},
    // Geometry.
    {"resize", nullptr, kGeometry,
     "shorter:S, longer:S, WxH (stretch), letterbox:WxH or none; sides up to 65535, images "
     "(SxS for shorter and longer) up to 16384x16384 pixels (default none)",
     Kind::text, kBoth, [](Options& o, const V& v) { o.resize = parse_resize(v.text); }},
    // After --resize, which would otherwise replace it.
    {"no-upscale", nullptr, kGeometry,
     "only shrink: images already smaller keep their size (as a '>' after the --resize size)",
     Kind::flag, kBoth, [](Options& o, const V&) { o.resize.no_upscale = true; }},
    {"crop", nullptr, kGeometry,
     "center:WxH, center:S or none; as large as --resize allows (default none)", Kind::text,
     kBoth, [](Options& o, const V& v) { o.crop = parse_crop(v.text); }},
    {"interp", nullptr, kGeometry, "nearest, linear, cubic, area or lanczos (default linear)",
     Kind::text, kBoth, [](Options& o, const V& v) { o.method.interp = parse_interp(v.text); }},
    {"antialias", nullptr, kGeometry,
     "on (Pillow semantics, default) or off (OpenCV semantics)", Kind::text, kBoth,
     [](Options& o, const V& v) {
       if (v.text != "on" && v.text != "off") throw UsageError("--antialias: expected on or off");
       o.method.antialias = v.text == "on";
     }},
    {"pad-value", nullptr, kGeometry,
     "0..255, for letterbox borders and crops larger than the image (default 0)", Kind::integer,
     kBoth, [](Options& o, const V& v) { o.pad_value = static_cast<int>(v.integer); }},
    // Values.
    {"channels", nullptr, kValues, "rgb or bgr (default rgb)", Kind::text, kBoth,
     [](Options& o, const V& v) { o.bgr = parse_channels_bgr(v.text); }},
    {"scale", nullptr, kValues, "multiplier for 0..255 pixel values, one or R,G,B (default 1/255)",
     Kind::text, kBoth, [](Options& o, const V& v) { o.scale = parse_triplet(v.text, "--scale"); }},
    {"mean", nullptr, kValues, "subtracted after scaling, one or R,G,B (default 0)", Kind::text,
     kBoth, [](Options& o, const V& v) { o.mean = parse_triplet(v.text, "--mean"); }},
    {"std", nullptr, kValues, "divides after the mean, one or R,G,B, not zero (default 1)",
     Kind::text, kBoth, [](Options& o, const V& v) { o.std = parse_triplet(v.text, "--std"); }},
    {"layout", nullptr, kValues, "nchw or nhwc (default nchw)", Kind::text, kBoth,
     [](Options& o, const V& v) { o.layout = parse_layout(v.text); }},
    {"dtype", nullptr, kValues, "float32, float16 or uint8 (default float32)", Kind::text, kBoth,
     [](Options& o, const V& v) { o.dtype = parse_dtype(v.text); }},
    // Outputs.
    {"format", nullptr, kOutput,
     "npy (default: tensor shards), images (image files), wds (WebDataset tar shards of .npy "
     "tensors) or wds-images (WebDataset tar shards of --image-format files)",
     Kind::text, kBoth,
     [](Options& o, const V& v) { o.format = parse_format(v.text); }},
    {"shard-size", nullptr, kOutput,
     "images per shard (an npy shard or a wds tar), 1 or more (default 1024)",
     Kind::integer, kRunOnly,
     [](Options& o, const V& v) { o.shard_size = static_cast<int>(v.integer); }},
    {"image-format", nullptr, kOutput,
     "jpg (default), png or webp, for --format images and wds-images",
     Kind::text, kBoth, [](Options& o, const V& v) { o.image_format = v.text; }},
    {"quality", nullptr, kOutput, "1..100 for jpg and webp (default 95)", Kind::integer, kBoth,
     [](Options& o, const V& v) { o.quality = static_cast<int>(v.integer); }},
    {"strip", nullptr, kOutput,
     "image outputs without the input's ICC colour profile (kept by default)", Kind::flag, kBoth,
     [](Options& o, const V&) { o.strip = true; }},
    {"shard", nullptr, kInputs,
     "K/N: process only the K-th (0-based) of N slices of the inputs (default 0/1, all)",
     Kind::text, kBoth, [](Options& o, const V& v) { o.slice = parse_slice(v.text); }},
    {"classes", nullptr, kInputs,
     "FILE fixing the label of each class name: a classes.json or one name per line (every "
     "class of INPUT must be in it; default: classes numbered in sorted order)",
     Kind::text, kRunOnly, [](Options& o, const V& v) { o.classes = v.text; }},
    // Engines (bench runs each as a tier of its own).
    {"engine", nullptr, kEngines, "auto (GPU when present, default), cpu or gpu", Kind::text,
     kRunOnly, [](Options& o, const V& v) { o.engine = parse_engine(v.text); }},
    {"cpu-engine", nullptr, kEngines,
     "how the CPU engine runs: tbb (threads, default) or procs (worker processes: a crash or "
     "hang fails only its image)",
     Kind::text, kRunOnly, [](Options& o, const V& v) { o.cpu_engine = parse_cpu_engine(v.text); }},
    {"device", nullptr, kEngines, "CUDA device for the GPU engine, 0 or more (default 0)",
     Kind::integer, kBoth, [](Options& o, const V& v) { o.device = static_cast<int>(v.integer); }},
    {"batch", nullptr, kEngines, "images per GPU batch, 1..65535 (default 64)", Kind::integer,
     kBoth, [](Options& o, const V& v) { o.batch = static_cast<int>(v.integer); }},
    // Parallelism.
    {"io-threads", nullptr, kEngines, "threads reading files, 1..4096 (default 4)", Kind::integer,
     kBoth, [](Options& o, const V& v) { o.io_threads = static_cast<int>(v.integer); }},
    {"threads", nullptr, kEngines,
     "cores decoding and transforming, 1..4096, or 0 for all (default)", Kind::integer, kBoth,
     [](Options& o, const V& v) { o.threads = static_cast<int>(v.integer); }},
    {"in-flight", nullptr, kEngines,
     "most images between reading and writing, 1..65536, or 0 for 2*threads+io+2 (default)",
     Kind::integer, kBoth,
     [](Options& o, const V& v) { o.in_flight = static_cast<int>(v.integer); }},
    {"workers", nullptr, kEngines,
     "worker processes of --cpu-engine procs, 1..4096, or 0 for one per core (default)",
     Kind::integer, kBoth, [](Options& o, const V& v) { o.workers = static_cast<int>(v.integer); }},
    {"timeout-per-image", nullptr, kEngines,
     "seconds a procs worker may spend on one image before it is replaced, over 0 and at most "
     "1000000 (default 30)",
     Kind::number, kBoth, [](Options& o, const V& v) { o.timeout_per_image = v.number; }},
    // The run.
    {"resume", nullptr, kRunControl,
     "continue an interrupted run in OUT (same settings and inputs)", Kind::flag, kRunOnly,
     [](Options& o, const V&) { o.resume = true; }},
    {"dry-run", nullptr, kRunControl,
     "list what would be processed and written, by format and class, without decoding or "
     "writing anything (OUT is not created)",
     Kind::flag, kRunOnly, [](Options& o, const V&) { o.dry_run = true; }},
    {"quiet", "q", kRunControl, "errors only: no progress, engine line or summary", Kind::flag,
     kBoth, [](Options& o, const V&) { o.quiet = true; }, "no progress: only the results"},
    {"max-errors", nullptr, kRunControl,
     "stop after more than this many inputs failed: 0 stops at the first, -1 (default) never",
     Kind::big_integer, kRunOnly, [](Options& o, const V& v) { o.max_errors = v.integer; }},
};

std::string flag_of(const Setting& s) { return std::string("--") + s.name; }

// "io_threads" and "io-threads" name the same setting.
const Setting* find_setting(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  for (const Setting& s : kSettings)
    if (name == s.name || (s.short_name && name == s.short_name)) return &s;
  return nullptr;
}

// The value's number, for the settings that take one; throws UsageError naming the flag.
SettingValue read_value(const Setting& s, const std::string& text) {
  SettingValue value{text};
  const char* begin = text.data();
  const char* end = begin + text.size();
  switch (s.kind) {
    case Kind::integer:
    case Kind::big_integer: {
      const auto [at, ec] = std::from_chars(begin, end, value.integer);
      const bool fits_int = value.integer >= std::numeric_limits<int>::min() &&
                            value.integer <= std::numeric_limits<int>::max();
      if (ec != std::errc() || at != end || (s.kind == Kind::integer && !fits_int))
        throw UsageError(flag_of(s) + ": expected a whole number, got '" + text + "'");
      break;
    }
    case Kind::number: {
      char* at = nullptr;
      value.number = std::strtod(text.c_str(), &at);
      if (text.empty() || at != end)
        throw UsageError(flag_of(s) + ": expected a number, got '" + text + "'");
      break;
    }
    case Kind::text:
    case Kind::flag:
      break;
  }
  return value;
}

// Whether a flag's override sets it.
bool flag_is_set(const Setting& s, const std::string& text) {
  if (text.empty() || text == "true") return true;
  if (text == "false") return false;
  throw UsageError(flag_of(s) + " takes no value (true or false), got '" + text + "'");
}

// A setting given explicitly that the job would ignore is refused, since it looks as if it had
// been applied. A preset's values never count.
void refuse_inapplicable(const Options& o, const std::vector<const Setting*>& given,
                         ConfigFor use) {
  struct Rule {
    std::vector<const char*> names;
    bool applies;
    std::string reason;
  };
  const std::string format = std::string("to --format ") + to_string(o.format);
  // bench has no --engine or --cpu-engine: it runs every engine as a tier.
  const bool bench = use == ConfigFor::bench;
  const Rule rules[] = {
      {{"scale", "mean", "std", "dtype", "layout", "channels"}, writes_tensors(o.format),
       format + " (image files hold 8-bit RGB pixels)"},
      {{"shard-size"}, writes_shards(o.format), format + " (it writes no shards)"},
      {{"image-format", "quality"}, writes_images(o.format),
       format + " (it writes no image files)"},
      {{"pad-value"}, o.resize.mode == ResizeMode::letterbox || o.crop.center,
       "without --resize letterbox:WxH or --crop (nothing is padded)"},
      {{"workers", "timeout-per-image"}, bench || o.cpu_engine == EngineKind::procs,
       "without --cpu-engine procs"},
      {{"batch", "device"}, bench || o.engine != Engine::cpu, "to --engine cpu"},
      {{"cpu-decode-share"}, bench || o.decode == DecodeOn::gpu, "without --decode gpu"},
  };
  for (const Rule& rule : rules) {
    if (rule.applies) continue;
    for (const char* name : rule.names)
      for (const Setting* s : given)
        if (std::string_view(s->name) == name)
          throw UsageError(flag_of(*s) + " does not apply " + rule.reason);
  }
}

}  // namespace

std::span<const Setting> settings() { return kSettings; }

Options resolve_config(const std::string& preset, const std::vector<Override>& overrides,
                       ConfigFor use) {
  // Each setting's last value, applied in the table's order.
  std::map<const Setting*, std::string> values;
  for (const Override& override : overrides) {
    const Setting* s = find_setting(override.name);
    if (!s || (s->run_only && use == ConfigFor::bench))
      throw UsageError("unknown setting '" + override.name + "'");
    values[s] = override.value;
  }
  Options o;
  if (!preset.empty()) apply_preset(o, preset);
  std::vector<const Setting*> given;
  for (const Setting& s : kSettings) {
    const auto value = values.find(&s);
    if (value == values.end()) continue;
    if (s.kind == Kind::flag && !flag_is_set(s, value->second)) continue;
    s.apply(o, read_value(s, value->second));
    given.push_back(&s);
  }
  refuse_inapplicable(o, given, use);
  return o;
}

}  // namespace imgprep

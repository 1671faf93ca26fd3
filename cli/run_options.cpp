#include "run_options.h"

#include <memory>

namespace imgprep {

template <class T>
void RunOptionsParser::add(const std::string& name, const std::string& help,
                           std::function<void(Options&, const T&)> apply) {
  auto value = std::make_shared<T>();
  CLI::Option* option = command_.add_option(name, *value, help)->group(group_);
  appliers_.push_back([option, value, apply](Options& o) {
    if (option->count() > 0) apply(o, *value);
  });
}

void RunOptionsParser::add_flag(const std::string& name, const std::string& help,
                                std::function<void(Options&)> apply) {
  CLI::Option* option = command_.add_flag(name, help)->group(group_);
  appliers_.push_back([option, apply](Options& o) {
    if (option->count() > 0) apply(o);
  });
}

RunOptionsParser::RunOptionsParser(CLI::App& c, For use) : command_(c), use_(use) {
  using S = std::string;
  c.add_option("INPUT", input_, "folder of images (walked recursively) or a list file")
      ->required()
      ->group("Inputs");
  // The help lists the groups in the order they first appear.
  if (use == For::run)
    c.add_option("-o,--output", output_, "output folder")->required()->group("Output");
  c.add_option("--preset", preset_,
               "imagenet, clip or yolo: sets --resize, --crop and the values; explicit options "
               "override it (default none)")
      ->group("Geometry");

  // Decoding.
  group_ = "Inputs";
  add_flag("--no-exif", "ignore EXIF orientation (applied by default)",
           [](Options& o) { o.exif = false; });
  add<S>("--shrink-on-load",
         "decode large JPEGs at 1/2, 1/4 or 1/8 scale: auto (default; only well above the "
         "resized size, output within a level of a full decode), max (fastest, inexact) or off",
         [](Options& o, const S& v) { o.shrink_on_load = parse_shrink_on_load(v); });
  add_flag("--no-shrink-on-load", "same as --shrink-on-load off",
           [](Options& o) { o.shrink_on_load = ShrinkOnLoad::off; });
  // Parsed signed: as an unsigned number, -1 would wrap around to no limit at all.
  add<int64_t>("--max-pixels", "refuse larger images, 1 or more (default 178956970)",
               [](Options& o, const int64_t& v) {
                 if (v < 1)
                   throw UsageError("--max-pixels must be at least 1, got " + std::to_string(v));
                 o.max_pixels = static_cast<uint64_t>(v);
               });
  // Geometry.
  group_ = "Geometry";
  add<S>("--resize",
         "shorter:S, longer:S, WxH (stretch), letterbox:WxH or none; sides up to 65535, "
         "images (SxS for shorter and longer) up to 16384x16384 pixels (default none)",
         [](Options& o, const S& v) { o.resize = parse_resize(v); });
  // After --resize, which would otherwise replace it.
  add_flag("--no-upscale", "only shrink: images already smaller keep their size (as a '>' "
           "after the --resize size)", [](Options& o) { o.resize.no_upscale = true; });
  add<S>("--crop", "center:WxH, center:S or none; as large as --resize allows (default none)",
         [](Options& o, const S& v) { o.crop = parse_crop(v); });
  add<S>("--interp", "nearest, linear, cubic, area or lanczos (default linear)",
         [](Options& o, const S& v) { o.method.interp = parse_interp(v); });
  add<S>("--antialias", "on (Pillow semantics, default) or off (OpenCV semantics)",
         [](Options& o, const S& v) {
           if (v != "on" && v != "off") throw UsageError("--antialias: expected on or off");
           o.method.antialias = v == "on";
         });
  add<int>("--pad-value",
           "0..255, for letterbox borders and crops larger than the image (default 0)",
           [](Options& o, const int& v) { o.pad_value = v; });
  // Values.
  group_ = "Values";
  add<S>("--channels", "rgb or bgr (default rgb)",
         [](Options& o, const S& v) { o.bgr = parse_channels_bgr(v); });
  add<S>("--scale", "multiplier for 0..255 pixel values, one or R,G,B (default 1/255)",
         [](Options& o, const S& v) { o.scale = parse_triplet(v, "--scale"); });
  add<S>("--mean", "subtracted after scaling, one or R,G,B (default 0)",
         [](Options& o, const S& v) { o.mean = parse_triplet(v, "--mean"); });
  add<S>("--std", "divides after the mean, one or R,G,B, not zero (default 1)",
         [](Options& o, const S& v) { o.std = parse_triplet(v, "--std"); });
  add<S>("--layout", "nchw or nhwc (default nchw)",
         [](Options& o, const S& v) { o.layout = parse_layout(v); });
  add<S>("--dtype", "float32, float16 or uint8 (default float32)",
         [](Options& o, const S& v) { o.dtype = parse_dtype(v); });
  // Outputs.
  group_ = "Output";
  add<S>("--format", "npy (default) or images",
         [](Options& o, const S& v) { o.format = parse_format(v); });
  if (use == For::run)
    add<int>("--shard-size", "images per npy shard, 1 or more (default 1024)",
             [](Options& o, const int& v) { o.shard_size = v; });
  add<S>("--image-format", "jpg (default), png or webp, for --format images",
         [](Options& o, const S& v) { o.image_format = v; });
  add<int>("--quality", "1..100 for jpg and webp (default 95)",
           [](Options& o, const int& v) { o.quality = v; });
  add_flag("--strip", "image outputs without the input's ICC colour profile (kept by default)",
           [](Options& o) { o.strip = true; });
  group_ = "Inputs";
  add<S>("--shard",
         "K/N: process only the K-th (0-based) of N slices of the inputs (default 0/1, all)",
         [](Options& o, const S& v) { o.shard = parse_shard(v); });
  if (use == For::run)
    add<S>("--classes", "FILE fixing the label of each class name: a classes.json or one name "
           "per line (every class of INPUT must be in it; default: classes numbered in sorted "
           "order)",
           [](Options& o, const S& v) { o.classes = v; });
  // Engines (bench runs each as a tier of its own).
  group_ = "Engines";
  if (use == For::run) {
    add<S>("--engine", "auto (GPU when present, default), cpu or gpu",
           [](Options& o, const S& v) { o.engine = parse_engine(v); });
    add<S>("--cpu-engine", "how the CPU engine runs: tbb (threads, default) or procs (worker "
           "processes: a crash or hang fails only its image)",
           [](Options& o, const S& v) { o.cpu_engine = parse_cpu_engine(v); });
  }
  add<int>("--device", "CUDA device for the GPU engine, 0 or more (default 0)",
           [](Options& o, const int& v) { o.device = v; });
  add<int>("--batch", "images per GPU batch, 1..65535 (default 64)",
           [](Options& o, const int& v) { o.batch = v; });
  // Parallelism.
  add<int>("--io-threads", "threads reading files, 1..4096 (default 4)",
           [](Options& o, const int& v) { o.io_threads = v; });
  add<int>("--threads", "cores decoding and transforming, 1..4096, or 0 for all (default)",
           [](Options& o, const int& v) { o.threads = v; });
  add<int>("--in-flight",
           "most images between reading and writing, 1..65536, or 0 for 2*threads+io+2 "
           "(default)",
           [](Options& o, const int& v) { o.in_flight = v; });
  add<int>("--workers",
           "worker processes of --cpu-engine procs, 1..4096, or 0 for one per core (default)",
           [](Options& o, const int& v) { o.workers = v; });
  add<double>("--timeout-per-image",
              "seconds a procs worker may spend on one image before it is replaced, over 0 and "
              "at most 1000000 (default 30)",
              [](Options& o, const double& v) { o.timeout_per_image = v; });
  // The run.
  group_ = "Run control";
  if (use == For::run)
    add_flag("--resume", "continue an interrupted run in OUT (same settings and inputs)",
             [](Options& o) { o.resume = true; });
  if (use == For::run)
    add_flag("--dry-run", "list what would be processed and written, by format and class, "
             "without decoding or writing anything (OUT is not created)",
             [](Options& o) { o.dry_run = true; });
  add_flag("-q,--quiet",
           use == For::run ? "errors only: no progress, engine line or summary"
                           : "no progress: only the results",
           [](Options& o) { o.quiet = true; });
  if (use == For::run)
    add<int64_t>("--max-errors",
                 "stop after more than this many inputs failed: 0 stops at the first, -1 "
                 "(default) never",
                 [](Options& o, const int64_t& v) { o.max_errors = v; });
}

Options RunOptionsParser::resolve() const {
  Options o;
  if (!preset_.empty()) apply_preset(o, preset_);
  for (const auto& apply : appliers_) apply(o);
  o.input = input_;
  o.output = output_;
  refuse_inapplicable(o);
  return o;
}

// An option the run would ignore is refused, since it looks as if it had been applied. Only
// options given on the command line count: a preset's values never do.
void RunOptionsParser::refuse_inapplicable(const Options& o) const {
  struct Rule {
    std::vector<const char*> flags;
    bool applies;
    const char* reason;
  };
  const bool images = o.format == OutputFormat::images;
  // bench has no --engine or --cpu-engine: it runs every engine as a tier.
  const bool bench = use_ == For::bench;
  const Rule rules[] = {
      {{"--scale", "--mean", "--std", "--dtype", "--layout", "--channels", "--shard-size"},
       !images, "to --format images (image files hold 8-bit RGB pixels)"},
      {{"--image-format", "--quality"}, images, "to --format npy (it writes no image files)"},
      {{"--pad-value"}, o.resize.mode == ResizeMode::letterbox || o.crop.center,
       "without --resize letterbox:WxH or --crop (nothing is padded)"},
      {{"--workers", "--timeout-per-image"}, bench || o.cpu_engine == EngineKind::procs,
       "without --cpu-engine procs"},
      {{"--batch", "--device"}, bench || o.engine != Engine::cpu, "to --engine cpu"},
  };
  for (const Rule& rule : rules) {
    if (rule.applies) continue;
    for (const char* flag : rule.flags) {
      const CLI::Option* option = command_.get_option_no_throw(flag);
      if (option != nullptr && option->count() > 0)
        throw UsageError(std::string(flag) + " does not apply " + rule.reason);
    }
  }
}

}  // namespace imgprep

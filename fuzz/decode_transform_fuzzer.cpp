// libFuzzer target over decode + transform: the bytes of one input file go through what the CPU
// engine does with them (place, make_resize_plan, decode_window as ImageProcessor::prepare
// calls them, then Resampler::run), and the same plan also
// through the GPU kernel's per-pixel maths on the host (resample_batch_on_host); the two tensors
// must be byte-identical.
//
// Input layout: byte 0 picks the option set (kOptionSets, modulo their count), byte 1 holds
// flags (bit 0: decode only the window the plan reads, as the engines do; bit 1: shrink-on-load,
// auto or with bit 3 max; bit 2: EXIF orientation), the rest is the image file.
//
// Expected outcome for bad input: DecodeError. Findings: crashes, sanitizer reports, any other
// exception, a plan that reads outside the decoded pixels, a CPU/host-reference mismatch. All
// of these abort.
//
// Built two ways: as the libFuzzer target (fuzz/CMakeLists.txt, clang, ASan + UBSan), and with
// FUZZ_REPLAY defined as a plain program that runs each file named on its command line through
// the same body (tests/CMakeLists.txt: the fuzz_regressions test, normal build).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "imgprep/kernels/resample_batch.h"
#include "imgprep/kernels/resample_plan.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/core/image_processor.h"
#include "imgprep/core/options.h"
#include "imgprep/core/output_options.h"
#include "imgprep/core/resampler.h"

namespace {

using namespace imgprep;

// Small enough that a header declaring a huge image is refused, not allocated.
constexpr uint64_t kMaxPixels = 4'000'000;

struct OptionSet {
  const char* name;
  Options options;
};

Options preset(const char* name) {
  Options o;
  apply_preset(o, name);
  return o;
}

Options custom(ResizeSpec resize, CropSpec crop, ResampleMethod method, DType dtype,
               Layout layout, bool bgr, int pad_value) {
  Options o = preset("imagenet");  // its normalisation; geometry and output replaced below
  o.preset.clear();
  o.resize = resize;
  o.crop = crop;
  o.method = method;
  o.dtype = dtype;
  o.layout = layout;
  o.bgr = bgr;
  o.pad_value = pad_value;
  return o;
}

std::vector<OptionSet> make_option_sets() {
  std::vector<OptionSet> sets = {
      {"imagenet", preset("imagenet")},
      {"clip", preset("clip")},
      {"yolo", preset("yolo")},
      {"stretch 37x23 nearest antialias uint8 nhwc bgr",
       custom({ResizeMode::stretch, 0, 37, 23}, {}, {Interp::nearest, true}, DType::uint8,
              Layout::nhwc, true, 0)},
      {"stretch 61x45 area float16 nhwc",
       custom({ResizeMode::stretch, 0, 61, 45}, {}, {Interp::area, false}, DType::float16,
              Layout::nhwc, false, 0)},
      {"shorter 48 crop 40x32 lanczos uint8",
       custom({ResizeMode::shorter, 48, 0, 0}, {true, 40, 32}, {Interp::lanczos, false},
              DType::uint8, Layout::nchw, false, 0)},
      {"longer 64 lanczos antialias float16",
       custom({ResizeMode::longer, 64, 0, 0}, {}, {Interp::lanczos, true}, DType::float16,
              Layout::nchw, false, 0)},
      {"letterbox 50x30 crop 40x40 nearest float32 nhwc pad 7",
       custom({ResizeMode::letterbox, 0, 50, 30}, {true, 40, 40}, {Interp::nearest, false},
              DType::float32, Layout::nhwc, false, 7)},
      {"no resize crop 33x33 area antialias float16",
       custom({}, {true, 33, 33}, {Interp::area, true}, DType::float16, Layout::nchw, true, 200)},
      {"shorter 32 crop 32 cubic float32",
       custom({ResizeMode::shorter, 32, 0, 0}, {true, 32, 32}, {Interp::cubic, false},
              DType::float32, Layout::nchw, false, 0)},
      {"imagenet geometry nearest antialias uint8",
       custom({ResizeMode::shorter, 256, 0, 0}, {true, 224, 224}, {Interp::nearest, true},
              DType::uint8, Layout::nchw, false, 0)},
  };
  for (OptionSet& s : sets) s.options.max_pixels = kMaxPixels;
  return sets;
}

#ifdef FUZZ_REPLAY
std::string g_outcome;  // what the last input led to, for the replay's log
#define OUTCOME(text) (g_outcome = (text))
#else
#define OUTCOME(text) ((void)0)
#endif

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "FINDING: %s: %s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// Every window the plan reads lies inside the decoded pixels (after rebase()). The resampler
// does not check; a decoder that returns fewer pixels than its header promised would otherwise
// be read past the end of its buffer.
void check_axis(const AxisPlan& axis, int size, const char* name) {
  for (int i = 0; i < axis.size(); ++i) {
    const int s = axis.start[i];
    if (s >= 0 && (axis.taps < 1 || s + axis.taps > size))
      finding("plan reads outside the decoded image",
              std::string(name) + " position " + std::to_string(i) + " reads [" +
                  std::to_string(s) + ", " + std::to_string(s + axis.taps) + ") of " +
                  std::to_string(size));
  }
  if (axis.weights.size() != static_cast<size_t>(axis.size()) * axis.taps)
    finding("plan tables", std::string(name) + " weights do not match taps");
}

void run_one(const OptionSet& set, uint8_t flags, std::span<const uint8_t> file) {
  const Options& options = set.options;
  DecodeOptions decode;
  decode.exif = (flags & 4) != 0;
  decode.shrink_on_load = (flags & 2) == 0 ? ShrinkOnLoad::off
                          : (flags & 8) != 0 ? ShrinkOnLoad::max
                                             : ShrinkOnLoad::automatic;
  decode.max_pixels = options.max_pixels;
  decode.resize = options.resize;
  decode.crop = options.crop;
  const bool use_region = (flags & 1) != 0;

  // Fresh objects per input: exact-size buffers let ASan see overreads, and a crash reproduces
  // from its input alone.
  Decoder decoder;
  DecodedImage image;
  ResizePlan plan;
  Placement placement;
  try {
    const ImageInfo info = decoder.open(file, decode);
    placement = place(info.width, info.height, options.resize, options.crop);
    plan = make_resize_plan(info.decoded_width, info.decoded_height, info.extent_w,
                            info.extent_h, placement, options.method);
    if (use_region)
      decode_window(decoder, plan, image);
    else
      decoder.decode(image);
  } catch (const DecodeError& e) {
    OUTCOME(std::string("DecodeError: ") + e.what());
    return;  // the expected outcome for bad input
  }

  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() < static_cast<size_t>(image.width) * image.height * 4)
    finding("decoded image", std::to_string(image.width) + "x" + std::to_string(image.height) +
                                 " with " + std::to_string(image.pixels.size()) + " bytes");
  check_axis(plan.x, image.width, "x");
  check_axis(plan.y, image.height, "y");
  if (plan.x.size() != placement.out_w || plan.y.size() != placement.out_h)
    finding("plan size", "plan is not the placement's output size");

  const OutputSpec spec = make_output_spec(options).sized(placement.out_w, placement.out_h);

  // The CPU engine.
  std::vector<uint8_t> cpu(spec.bytes());
  Resampler resampler;
  resampler.run(image, plan, spec, cpu.data());

  // The kernel's per-pixel maths on the host, with the plan as the GPU engine batches it.
  BatchTables tables;
  const BatchImage entry =
      tables.add(image.width, image.height, plan, placement.out_w, placement.out_h, spec);
  std::vector<uint8_t> src(tables.src_bytes());
  std::memcpy(src.data() + entry.src, image.pixels.data(),
              static_cast<size_t>(image.width) * image.height * 4);
  std::vector<uint8_t> host(tables.out_bytes(), 0xAB);
  resample_batch_on_host(tables, spec, src.data(), host.data());

  const auto [a, b] = std::mismatch(cpu.begin(), cpu.end(), host.begin() + entry.out);
  if (a != cpu.end())
    finding("CPU resampler and host reference differ",
            std::string(set.name) + ", decoded " + std::to_string(image.width) + "x" +
                std::to_string(image.height) + ", output " + std::to_string(spec.width) + "x" +
                std::to_string(spec.height) + ", first difference at byte " +
                std::to_string(a - cpu.begin()) + " of " + std::to_string(cpu.size()));
  OUTCOME(std::string(set.name) + ": decoded " + std::to_string(image.width) + "x" +
          std::to_string(image.height) + " at (" + std::to_string(image.origin_x) + ", " +
          std::to_string(image.origin_y) + ") of " + std::to_string(decoder.info().decoded_width) +
          "x" + std::to_string(decoder.info().decoded_height) + ", shrink " +
          std::to_string(image.shrink) + ", output " + std::to_string(spec.width) + "x" +
          std::to_string(spec.height) + ", identical");
}

const std::vector<OptionSet>& option_sets() {
  static const std::vector<OptionSet> sets = make_option_sets();
  return sets;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  imgprep::configure_codecs(kMaxPixels);  // OpenCV reads its pixel limit once
  option_sets();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto& sets = option_sets();
  const OptionSet& set = sets[data[0] % sets.size()];
  try {
    run_one(set, data[1], std::span<const uint8_t>(data + 2, size - 2));
  } catch (const std::exception& e) {
    finding("exception other than DecodeError", std::string(set.name) + ": " + e.what());
  } catch (...) {
    finding("exception other than DecodeError", set.name);
  }
  return 0;
}

#ifdef FUZZ_REPLAY
// Runs each file named on the command line through the fuzzer body; aborts on a finding.
int main(int argc, char** argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  int count = 0;
  for (int i = 1; i < argc; ++i) {
    std::FILE* f = std::fopen(argv[i], "rb");
    if (!f) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 2;
    }
    std::vector<uint8_t> bytes;
    uint8_t chunk[65536];
    for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;)
      bytes.insert(bytes.end(), chunk, chunk + n);
    std::fclose(f);
    std::printf("%s (%zu bytes): ", argv[i], bytes.size());
    std::fflush(stdout);
    g_outcome = "too short";
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    std::printf("%s\n", g_outcome.c_str());
    ++count;
  }
  std::printf("%d inputs replayed, no findings\n", count);
  return 0;
}
#endif

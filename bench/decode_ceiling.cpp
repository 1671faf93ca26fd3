// imgprep-decode-ceiling: the decode-only ceiling for a folder of JPEGs. Every file is read into
// memory first, then decoded with TurboJPEG (to RGB, at imgprep's shrink-on-load scale) on N
// threads, R times; no resize, no normalisation, no I/O is timed. Prints images/s per repeat.
#include <turbojpeg.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "imgprep/datasets/image_format.h"
#include "imgprep/datasets/input_list.h"
#include "imgprep/pipeline/decoder.h"
#include "imgprep/pipeline/options.h"

namespace {

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct DecodeCounts {
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> shrink[9] = {};  // index: shrink factor 1, 2, 4, 8
};

// One repeat: every thread takes the next image until none is left. Returns seconds.
double decode_all(const std::vector<std::vector<uint8_t>>& jpegs,
                  const imgprep::DecodeOptions& options, int threads, DecodeCounts& counts) {
  std::atomic<size_t> next{0};
  std::vector<tjhandle> handles(threads);
  for (tjhandle& tj : handles)
    if (!(tj = tjInitDecompress())) throw std::runtime_error("tjInitDecompress failed");
  auto worker = [&](tjhandle tj) {
    std::vector<uint8_t> rgb;
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < jpegs.size();) {
      auto* data = const_cast<unsigned char*>(jpegs[i].data());
      const auto size = static_cast<unsigned long>(jpegs[i].size());
      int w = 0, h = 0, subsamp = 0, colorspace = 0;
      if (tjDecompressHeader3(tj, data, size, &w, &h, &subsamp, &colorspace) != 0) {
        counts.failed.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      // EXIF orientation is ignored: imgprep passes the upright size, but the factor only differs
      // for a non-square --resize WxH / letterbox / crop; every preset's target is square.
      const int d = imgprep::Decoder::shrink_factor(w, h, options);
      const tjscalingfactor factor{1, d};
      const int sw = TJSCALED(w, factor), sh = TJSCALED(h, factor);
      rgb.resize(static_cast<size_t>(sw) * sh * 3);
      if (tjDecompress2(tj, data, size, rgb.data(), sw, 0, sh, TJPF_RGB, 0) != 0 &&
          tjGetErrorCode(tj) == TJERR_FATAL)
        counts.failed.fetch_add(1, std::memory_order_relaxed);
      else
        counts.shrink[d].fetch_add(1, std::memory_order_relaxed);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::jthread> pool;
  for (tjhandle tj : handles) pool.emplace_back(worker, tj);
  pool.clear();  // joins
  const auto end = std::chrono::steady_clock::now();
  for (tjhandle tj : handles) tjDestroy(tj);
  return std::chrono::duration<double>(end - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"imgprep-decode-ceiling: TurboJPEG decode-only throughput of a folder of JPEGs"};
  std::string input, preset, resize, crop;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int repeat = 5, warmup = 1;
  bool no_shrink = false, json = false;
  app.add_option("INPUT", input, "folder of images (walked recursively) or a list file")
      ->required();
  app.add_option("--preset", preset, "imagenet, clip or yolo; --resize/--crop override it");
  app.add_option("--resize", resize, "shorter:S, longer:S, WxH, letterbox:WxH or none");
  app.add_option("--crop", crop, "center:WxH, center:S or none");
  app.add_flag("--no-shrink-on-load", no_shrink, "always decode at full size");
  app.add_option("--threads", threads, "decoding threads (default: all cores)")
      ->check(CLI::PositiveNumber);
  app.add_option("--repeat", repeat, "timed repeats (default 5)")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed repeats first (default 1)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--json", json, "print one JSON line instead of text");
  CLI11_PARSE(app, argc, argv);

  try {
    // The same resolution order as `imgprep run`: defaults, then the preset, then explicit flags.
    imgprep::Options o;
    if (!preset.empty()) imgprep::apply_preset(o, preset);
    if (!resize.empty()) o.resize = imgprep::parse_resize(resize);
    if (!crop.empty()) o.crop = imgprep::parse_crop(crop);
    const imgprep::DecodeOptions options{.exif = false,
                                         .shrink_on_load = !no_shrink,
                                         .max_pixels = o.max_pixels,
                                         .resize = o.resize,
                                         .crop = o.crop};

    std::vector<std::vector<uint8_t>> jpegs;
    size_t skipped = 0;
    for (const auto& item : imgprep::list_inputs(input).items) {
      std::vector<uint8_t> bytes = read_file(item.path);
      const size_t head = std::min(bytes.size(), imgprep::kSniffBytes);
      if (imgprep::sniff_format({bytes.data(), head}) == imgprep::ImageFormat::jpeg)
        jpegs.push_back(std::move(bytes));
      else
        ++skipped;
    }
    if (jpegs.empty()) throw std::runtime_error("no JPEG in " + input);
    if (skipped > 0) std::cerr << "skipped " << skipped << " files that are not JPEGs\n";

    DecodeCounts counts;
    for (int i = 0; i < warmup; ++i) decode_all(jpegs, options, threads, counts);
    std::vector<double> runs;
    for (int i = 0; i < repeat; ++i) {
      counts.failed = 0;
      for (auto& s : counts.shrink) s = 0;
      const double seconds = decode_all(jpegs, options, threads, counts);
      runs.push_back(static_cast<double>(jpegs.size()) / seconds);
      if (!json) std::cout << "repeat " << i + 1 << ": " << runs.back() << " images/s\n";
    }
    if (counts.failed > 0) std::cerr << counts.failed << " JPEGs failed to decode\n";

    if (json) {
      nlohmann::ordered_json j = {{"images", jpegs.size()},
                          {"threads", threads},
                          {"median_images_per_s", median(runs)},
                          {"runs", runs}};
      std::cout << j.dump() << "\n";
    } else {
      std::cout << "median: " << median(runs) << " images/s (" << jpegs.size() << " JPEGs, "
                << threads << " threads; shrink 1/2/4/8: " << counts.shrink[1] << "/"
                << counts.shrink[2] << "/" << counts.shrink[4] << "/" << counts.shrink[8]
                << ")\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "imgprep-decode-ceiling: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

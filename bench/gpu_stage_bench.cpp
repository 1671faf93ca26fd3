// imgprep-gpu-stage-bench: the GPU stage alone. Decoded images are packed into batches once; the
// fused resample kernel is then timed with cudaEvents alone and between its batch's upload and its
// tensors' download. Exits 1 on bad options or inputs or a failed --check, 2 on a CUDA error.
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "imgprep/kernels/cuda_resources.h"
#include "imgprep/kernels/resample_batch.h"
#include "imgprep/kernels/resample_batch_cuda.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/core/image_processor.h"
#include "imgprep/core/options.h"
#include "imgprep/core/output_options.h"
#include "imgprep/engines/read_pool.h"

namespace {

using namespace imgprep;

constexpr char kProgram[] = "imgprep-gpu-stage-bench";

using cuda::check;
using cuda::DeviceBuffer;
using cuda::Event;
using cuda::PinnedBuffer;
using cuda::Stream;

std::string megabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", bytes / 1e6);
  return text;
}

DeviceBuffer device_buffer(uint64_t bytes, const std::string& what) {
  return cuda::allocate<cuda::DeviceMemory>(bytes,
                                            "cudaMalloc of " + what + " (" + megabytes(bytes) + ")");
}

PinnedBuffer pinned_buffer(uint64_t bytes, const std::string& what) {
  return cuda::allocate<cuda::PinnedMemory>(
      bytes, "cudaMallocHost of " + what + " (" + megabytes(bytes) + ")");
}

// Waits for `stop`; milliseconds from `start` to it.
float elapsed_ms(const Event& start, const Event& stop) {
  check(cudaEventSynchronize(stop), "waiting for the GPU");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  return ms;
}

struct Device {
  std::string name;
  double peak_gb_s = 0;
};

Device open_device(int index) {
  int count = 0;
  check(cudaGetDeviceCount(&count), "no usable CUDA device");
  if (index >= count)
    throw GpuError("no CUDA device " + std::to_string(index) + " (" + std::to_string(count) +
                    " found)");
  check(cudaSetDevice(index), "cannot use CUDA device " + std::to_string(index));
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties");
  // CUDA 13 dropped memoryClockRate from cudaDeviceProp; the attributes exist in every version.
  int clock_khz = 0, bus_bits = 0;
  check(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, index),
        "cudaDeviceGetAttribute");
  check(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, index),
        "cudaDeviceGetAttribute");
  return {prop.name, 2.0 * clock_khz * 1000 * (bus_bits / 8) / 1e9};
}

// A decoded image (or the window of it that its plan reads) and that plan.
struct Source {
  Bytes pixels;  // RGBX, rows of width * 4 bytes
  int width = 0, height = 0;
  ResizePlan plan;
  int out_w = 0, out_h = 0;
};

// original_*: the image's size before shrink-on-load; extent_*: that size in decoded pixels.
Source make_source(Bytes pixels, int width, int height, int original_w, int original_h,
                   double extent_w, double extent_h, const Options& o) {
  const Placement placement = place(original_w, original_h, o.resize, o.crop);
  return {std::move(pixels), width, height,
          make_resize_plan(width, height, extent_w, extent_h, placement, o.method),
          placement.out_w, placement.out_h};
}

// `count` different images of noise over colour gradients.
std::vector<Source> synthetic_sources(int width, int height, int count, const Options& o) {
  std::vector<Source> sources;
  std::mt19937 rng(1);
  for (int i = 0; i < count; ++i) {
    Bytes pixels(static_cast<size_t>(width) * height * 4);
    uint8_t* p = pixels.data();
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x, p += 4) {
        const uint32_t noise = rng();
        p[0] = static_cast<uint8_t>((x * 224 / width + i) % 224 + (noise & 31));
        p[1] = static_cast<uint8_t>((y * 224 / height + 3 * i) % 224 + (noise >> 8 & 31));
        p[2] = static_cast<uint8_t>(((x + y) * 224 / (width + height) + 5 * i) % 224 +
                                    (noise >> 16 & 31));
        p[3] = 255;
      }
    sources.push_back(
        make_source(std::move(pixels), width, height, width, height, width, height, o));
  }
  return sources;
}

// The first `count` inputs that decode, each as `imgprep run`'s GPU engine receives it
// (ImageProcessor::decode_and_plan: shrink-on-load, the window its plan reads, the plan).
std::vector<Source> decoded_sources(const std::string& input, int count, const Options& o) {
  configure_codecs(o.max_pixels);
  const ImageProcessor processor(o);
  Scratch scratch;
  RunStats stats;
  std::vector<Source> sources;
  size_t failed = 0;
  const std::vector<InputItem> items = list_inputs(input).items;
  for (size_t i = 0; i < items.size() && static_cast<int>(sources.size()) < count; ++i) {
    const InputItem& item = items[i];
    Job job;
    job.reset(i, &item);
    // Decoded on the CPU: this bench times the GPU stage's resample, fed decoded pixels.
    if (read_file(item.path, job.encoded).empty())
      processor.decode_and_plan(job, scratch, stats, false);
    else
      job.error = "unreadable";
    if (!job.ok()) {
      ++failed;
      continue;
    }
    DecodedImage& image = job.decoded;
    image.pixels.resize(static_cast<size_t>(image.width) * image.height * 4);
    sources.push_back({std::move(image.pixels), image.width, image.height, std::move(job.plan),
                       job.out_w, job.out_h});
  }
  if (failed > 0) std::cerr << kProgram << ": skipped " << failed << " undecodable inputs\n";
  if (sources.empty()) throw std::runtime_error("no decodable image in " + input);
  return sources;
}

template <class T>
uint64_t byte_size(const std::vector<T>& v) {
  return v.size() * sizeof(T);
}

// The table entries the kernel reads for an image: its BatchImage, starts and weights, and the
// fixed-point weights when it rounds as Pillow does.
uint64_t table_bytes(const ResizePlan& plan) {
  const uint64_t weights = byte_size(plan.x.weights) + byte_size(plan.y.weights);
  return sizeof(BatchImage) + (plan.x.start.size() + plan.y.start.size()) * sizeof(int32_t) +
         (plan.pillow_rounding ? 2 * weights : weights);
}

// One batch as one block: its pixels where the tables put them, then the tables' arrays. The
// block is built in pinned host memory and copied to the device as it is. bytes_read counts every
// source pixel, though a crop leaves some unread: the bandwidth reported is nominal.
struct Batch {
  BatchTables tables;
  uint64_t block_bytes = 0;
  uint64_t bytes_read = 0, bytes_written = 0;  // source pixels + tables, tensors
  PinnedBuffer host;
  DeviceBuffer device;  // the resident copy that the kernel-only loop reads
};

// `size` images from sources[first] on, cycling through the sources.
Batch make_batch(const std::vector<Source>& sources, size_t first, int size,
                 const OutputSpec& spec) {
  Batch b;
  BatchTables& t = b.tables;
  for (int i = 0; i < size; ++i) {
    const Source& s = sources[(first + i) % sources.size()];
    t.add(s.width, s.height, s.plan, s.out_w, s.out_h, spec);
    b.bytes_read += s.pixels.size() + table_bytes(s.plan);
    b.bytes_written += static_cast<uint64_t>(s.out_w) * s.out_h * OutputSpec::kChannels *
                       spec.element_size();
  }
  b.block_bytes = t.staging_bytes();

  b.host = pinned_buffer(b.block_bytes, "a batch");
  uint8_t* block = b.host.get();
  for (int i = 0; i < size; ++i) {
    const Bytes& pixels = sources[(first + i) % sources.size()].pixels;
    std::memcpy(block + t.images()[i].src, pixels.data(), pixels.size());
  }
  t.pack_tables(block);

  b.device = device_buffer(b.block_bytes, "a batch");
  check(cudaMemcpy(b.device.get(), block, b.block_bytes, cudaMemcpyHostToDevice),
        "copying a batch to the device");
  return b;
}

void launch(const BatchView& batch, const OutputSpec& spec, cudaStream_t stream) {
  if (const char* error = launch_resample_batch(batch, spec, stream))
    throw GpuError(std::string("kernel launch: ") + error);
}

// A stream with its own device block, output and pinned output. Batch i goes to lane i % 2, so
// one lane's copies overlap the other lane's kernel.
struct Lane {
  Stream stream;
  DeviceBuffer block, out;
  PinnedBuffer host_out;
};

// Milliseconds for `iterations` kernels, cycling through the resident batches.
float time_kernels(const std::vector<Batch>& batches, const OutputSpec& spec, Lane& lane,
                   int iterations) {
  Event start, stop;
  start.record(lane.stream);
  for (int i = 0; i < iterations; ++i) {
    const Batch& b = batches[i % batches.size()];
    launch(b.tables.device_view(b.device.get(), lane.out.get()), spec, lane.stream);
  }
  stop.record(lane.stream);
  return elapsed_ms(start, stop);
}

// Milliseconds for `iterations` rounds of: copy the batch's block (pixels and tables) from pinned
// memory, run the kernel, copy the tensors back to pinned memory.
float time_end_to_end(const std::vector<Batch>& batches, const OutputSpec& spec,
                      std::array<Lane, 2>& lanes, int iterations) {
  Event start, second_done, stop;
  start.record(lanes[0].stream);
  check(cudaStreamWaitEvent(lanes[1].stream, start), "cudaStreamWaitEvent");
  for (int i = 0; i < iterations; ++i) {
    const Batch& b = batches[i % batches.size()];
    Lane& lane = lanes[i % 2];
    check(cudaMemcpyAsync(lane.block.get(), b.host.get(), b.block_bytes, cudaMemcpyHostToDevice,
                          lane.stream),
          "cudaMemcpyAsync to the device");
    launch(b.tables.device_view(lane.block.get(), lane.out.get()), spec, lane.stream);
    check(cudaMemcpyAsync(lane.host_out.get(), lane.out.get(), b.tables.out_bytes(),
                          cudaMemcpyDeviceToHost, lane.stream),
          "cudaMemcpyAsync from the device");
  }
  second_done.record(lanes[1].stream);
  check(cudaStreamWaitEvent(lanes[0].stream, second_done), "cudaStreamWaitEvent");
  stop.record(lanes[0].stream);
  return elapsed_ms(start, stop);
}

// Runs batch b once more into a poisoned output and compares each image's tensor byte for byte
// with the host reference on the same tables. Returns "identical" or the first difference.
std::string check_batch(const Batch& b, const OutputSpec& spec, Lane& lane) {
  const BatchTables& t = b.tables;
  std::vector<uint8_t> gpu(t.out_bytes()), host(t.out_bytes());
  check(cudaMemsetAsync(lane.out.get(), 0xA5, t.out_bytes(), lane.stream), "cudaMemsetAsync");
  launch(b.tables.device_view(b.device.get(), lane.out.get()), spec, lane.stream);
  check(cudaMemcpyAsync(gpu.data(), lane.out.get(), t.out_bytes(), cudaMemcpyDeviceToHost,
                        lane.stream),
        "cudaMemcpyAsync from the device");
  check(cudaStreamSynchronize(lane.stream), "waiting for the GPU");
  resample_batch_on_host(t, spec, b.host.get(), host.data());

  for (size_t i = 0; i < t.images().size(); ++i) {
    const BatchImage& image = t.images()[i];
    const OutputSpec s = spec.sized(image.out_w, image.out_h);
    const auto begin = gpu.begin() + static_cast<ptrdiff_t>(image.out);
    const auto end = begin + static_cast<ptrdiff_t>(s.bytes());
    const auto diff = std::mismatch(begin, end, host.begin() + static_cast<ptrdiff_t>(image.out));
    if (diff.first == end) continue;
    const size_t byte = static_cast<size_t>(diff.first - begin);
    const size_t element = byte / s.element_size();
    const size_t plane = static_cast<size_t>(s.width) * s.height;
    const bool planar = s.layout == Layout::nchw;
    const size_t pixel = planar ? element % plane : element / OutputSpec::kChannels;
    const size_t channel = planar ? element / plane : element % OutputSpec::kChannels;
    char text[200];
    std::snprintf(text, sizeof text,
                  "image %zu of the first batch differs at X=%zu Y=%zu channel %zu (byte %zu of "
                  "its tensor): gpu 0x%02x, host 0x%02x",
                  i, pixel % s.width, pixel / s.width, channel, byte, *diff.first, *diff.second);
    return text;
  }
  return "identical";
}

// "WxH" with positive sides.
std::pair<int, int> parse_size(const std::string& text) {
  int w = 0, h = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%dx%d%c", &w, &h, &extra) != 2 || w <= 0 || h <= 0)
    throw UsageError("--synthetic: expected WxH, got '" + text + "'");
  return {w, h};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"imgprep-gpu-stage-bench: the GPU resample stage alone, with and without copies"};
  std::string input, synthetic = "500x375", preset = "imagenet", resize, crop, interp, dtype,
                     layout;
  int images = 256, batch_size = 256, iterations = 50, warmup = 5, device_index = 0;
  bool json = false, verify = false;
  CLI::Option* input_option = app.add_option(
      "INPUT", input, "folder of images (walked recursively) or a list file; default: synthetic");
  app.add_option("--synthetic", synthetic, "size of the synthetic images (default 500x375)")
      ->excludes(input_option);
  app.add_option("--images", images, "distinct decoded images to cycle through (default 256)")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", batch_size, "images per kernel launch (default 256)")
      ->check(CLI::PositiveNumber);
  app.add_option("--preset", preset, "imagenet (default), clip or yolo");
  app.add_option("--resize", resize, "shorter:S, longer:S, WxH, letterbox:WxH or none");
  app.add_option("--crop", crop, "center:WxH, center:S or none");
  app.add_option("--interp", interp, "nearest, linear, cubic, area or lanczos");
  app.add_option("--dtype", dtype, "float32, float16 or uint8");
  app.add_option("--layout", layout, "nchw or nhwc");
  app.add_option("--iterations", iterations, "timed launches (default 50)")
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed launches first (default 5)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--device", device_index, "CUDA device (default 0)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--json", json, "print one JSON line instead of text");
  app.add_flag("--check", verify, "compare one batch with the host reference, byte for byte");
  CLI11_PARSE(app, argc, argv);

  try {
    // The same resolution order as `imgprep run`: defaults, then the preset, then explicit flags.
    Options o;
    apply_preset(o, preset);
    if (!resize.empty()) o.resize = parse_resize(resize);
    if (!crop.empty()) o.crop = parse_crop(crop);
    if (!interp.empty()) o.method.interp = parse_interp(interp);
    if (!dtype.empty()) o.dtype = parse_dtype(dtype);
    if (!layout.empty()) o.layout = parse_layout(layout);
    const OutputSpec spec = make_output_spec(o);
    const auto [synthetic_w, synthetic_h] = parse_size(synthetic);

    const Device device = open_device(device_index);
    const std::vector<Source> sources =
        input.empty() ? synthetic_sources(synthetic_w, synthetic_h, images, o)
                      : decoded_sources(input, images, o);

    std::vector<Batch> batches;
    for (size_t first = 0; first < sources.size(); first += batch_size)
      batches.push_back(make_batch(sources, first, batch_size, spec));
    uint64_t max_block = 0, max_out = 0;
    for (const Batch& b : batches) {
      max_block = std::max(max_block, b.block_bytes);
      max_out = std::max(max_out, b.tables.out_bytes());
    }
    std::array<Lane, 2> lanes;
    for (Lane& lane : lanes) {
      lane.block = device_buffer(max_block, "a batch");
      lane.out = device_buffer(max_out, "a batch's tensors");
      lane.host_out = pinned_buffer(max_out, "a batch's tensors");
    }

    if (warmup > 0) time_kernels(batches, spec, lanes[0], warmup);
    const double kernel_s = time_kernels(batches, spec, lanes[0], iterations) / 1e3;
    if (warmup > 0) time_end_to_end(batches, spec, lanes, warmup);
    const double end_to_end_s = time_end_to_end(batches, spec, lanes, iterations) / 1e3;
    const std::string verdict = verify ? check_batch(batches[0], spec, lanes[0]) : "";

    uint64_t read = 0, written = 0, uploaded = 0, downloaded = 0;
    for (int i = 0; i < iterations; ++i) {
      const Batch& b = batches[i % batches.size()];
      read += b.bytes_read;
      written += b.bytes_written;
      uploaded += b.block_bytes;
      downloaded += b.tables.out_bytes();
    }
    const double launched = static_cast<double>(iterations) * batch_size;
    const double kernel_ips = launched / kernel_s, end_to_end_ips = launched / end_to_end_s;
    const double kernel_gb_s = static_cast<double>(read + written) / kernel_s / 1e9;
    const double percent_of_peak = 100 * kernel_gb_s / device.peak_gb_s;
    const std::string input_text = input.empty() ? "synthetic " + synthetic : input;
    const std::string output_text =
        (spec.width > 0 ? std::to_string(spec.width) + "x" + std::to_string(spec.height)
                        : std::string("per-image size")) +
        " " + to_string(o.dtype) + " " + to_string(o.layout) + " " + to_string(o.method.interp);

    if (json) {
      nlohmann::ordered_json j = {
          {"device", device.name},
          {"peak_gb_s", device.peak_gb_s},
          {"input", input_text},
          {"images", sources.size()},
          {"output", output_text},
          {"batch", batch_size},
          {"batches", batches.size()},
          {"iterations", iterations},
          {"kernel_ms_per_batch", kernel_s * 1e3 / iterations},
          {"kernel_images_per_s", kernel_ips},
          {"read_bytes_per_batch", read / iterations},
          {"written_bytes_per_batch", written / iterations},
          {"kernel_gb_s", kernel_gb_s},
          {"percent_of_peak", percent_of_peak},
          {"end_to_end_ms_per_batch", end_to_end_s * 1e3 / iterations},
          {"end_to_end_images_per_s", end_to_end_ips},
          {"h2d_bytes_per_batch", uploaded / iterations},
          {"d2h_bytes_per_batch", downloaded / iterations}};
      if (verify) j["check"] = verdict;
      std::cout << j.dump() << "\n";
    } else {
      std::printf("device: %s (peak %.0f GB/s)\n", device.name.c_str(), device.peak_gb_s);
      std::printf("input: %zu images, %s; output %s; batch %d (%zu distinct)\n", sources.size(),
                  input_text.c_str(), output_text.c_str(), batch_size, batches.size());
      std::printf("kernel only:      %8.3f ms/batch %10.0f images/s  %6.0f GB/s (%.1f%% of peak;"
                  " %s read + %s written per batch)\n",
                  kernel_s * 1e3 / iterations, kernel_ips, kernel_gb_s, percent_of_peak,
                  megabytes(static_cast<double>(read) / iterations).c_str(),
                  megabytes(static_cast<double>(written) / iterations).c_str());
      std::printf("copy+kernel+copy: %8.3f ms/batch %10.0f images/s  (%s up + %s down per batch,"
                  " 2 streams)\n",
                  end_to_end_s * 1e3 / iterations, end_to_end_ips,
                  megabytes(static_cast<double>(uploaded) / iterations).c_str(),
                  megabytes(static_cast<double>(downloaded) / iterations).c_str());
      if (verify) std::printf("check: %s\n", verdict.c_str());
    }
    return verdict.empty() || verdict == "identical" ? 0 : 1;
  } catch (const GpuError& e) {
    std::cerr << kProgram << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << kProgram << ": " << e.what() << "\n";
    return 1;
  }
}

#include "gpu_batch_decode.h"

#include <algorithm>
#include <cstring>

#include "imgprep/kernels/gpu_error.h"

namespace imgprep {
namespace {

using cuda::check;

constexpr char kAllocating[] = "allocating GPU decoding buffers";
constexpr uint64_t kAlign = 256;

uint64_t align_up(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Written into each rectangle's last row before decoding: a row still all kCanary afterwards was
// not decoded (or is a flat colour of exactly that value: decoded again on the CPU, harmlessly).
constexpr uint8_t kCanary = 0x2B;

// What to decode of a job's image: the stored rectangle under its window, one iMCU wider on
// every side (at a rectangle's edge chroma upsampling lacks its neighbours, as the CPU decoder's
// regions do), or all of it where the decoder decodes whole images only.
PixelRect rect_to_decode(const Job::GpuDecode& g, bool regions) {
  if (!regions) return {0, 0, g.stored_w, g.stored_h};
  const PixelRect r = stored_rect(g.orientation, g.stored_w, g.stored_h, g.window);
  constexpr int kMargin = 16;
  const int x0 = std::max(r.x - kMargin, 0), y0 = std::max(r.y - kMargin, 0);
  const int x1 = std::min(r.x + r.width + kMargin, g.stored_w);
  const int y1 = std::min(r.y + r.height + kMargin, g.stored_h);
  return {x0, y0, x1 - x0, y1 - y0};
}

}  // namespace

void GpuBatchDecode::decode(std::span<Job* const> jobs, GpuDecodeBuffers& b, int state,
                            cudaStream_t stream) {
  b.given.clear();
  b.back_to_cpu.clear();
  b.images.clear();
  for (Job* job : jobs) {
    if (!job->gpu_decode.pending || !job->ok() || job->cancelled) continue;
    const PixelRect rect = rect_to_decode(job->gpu_decode, decoder_.decodes_regions());
    GpuJpegDecoder::Image image{job->encoded, rect, nullptr, static_cast<size_t>(rect.width) * 3};
    if (decoder_.takes(image)) {
      b.given.push_back(job);
      b.images.push_back(image);
    } else {
      job->gpu_fallback = "the GPU's decoder does not take it";
      b.back_to_cpu.push_back(job);
    }
  }
  if (!b.images.empty()) {
    uint64_t bytes = 0;
    size_t widest = 0;
    std::vector<uint64_t> at(b.images.size());
    for (size_t i = 0; i < b.images.size(); ++i) {
      at[i] = bytes;
      bytes = align_up(bytes + b.images[i].pitch * static_cast<uint64_t>(b.images[i].rect.height));
      widest = std::max(widest, b.images[i].pitch);
    }
    uint8_t* pixels = b.pixels.reserve(bytes, kAllocating);
    uint8_t* rows = b.last_rows.reserve(align_up(widest) * b.images.size(), kAllocating);
    uint8_t* canary = canary_.reserve(widest, kAllocating);
    std::memset(canary, kCanary, widest);
    for (size_t i = 0; i < b.images.size(); ++i) {
      GpuJpegDecoder::Image& image = b.images[i];
      image.out = pixels + at[i];
      check(cudaMemcpyAsync(image.out + image.pitch * (image.rect.height - 1), canary,
                            image.pitch, cudaMemcpyHostToDevice, stream),
            "copy to the GPU");
    }
    // nvJPEG's hardware backend has been seen to start before earlier work on its stream is
    // done: it gets an idle stream.
    check(cudaStreamSynchronize(stream), "GPU decoding");
    const std::string failed = decoder_.decode(state, b.images, stream);
    if (!failed.empty()) {
      for (Job* job : b.given) job->gpu_fallback = failed;
    } else {
      for (size_t i = 0; i < b.images.size(); ++i) {
        const GpuJpegDecoder::Image& image = b.images[i];
        check(cudaMemcpyAsync(rows + align_up(widest) * i,
                              image.out + image.pitch * (image.rect.height - 1), image.pitch,
                              cudaMemcpyDeviceToHost, stream),
              "copy from the GPU");
      }
      check(cudaStreamSynchronize(stream), "GPU decoding");
    }
    b.upright.clear();
    for (size_t i = 0; i < b.images.size(); ++i) {
      Job* job = b.given[i];
      const GpuJpegDecoder::Image& image = b.images[i];
      const uint8_t* last = rows + align_up(widest) * i;
      const bool written =
          failed.empty() && !std::all_of(last, last + image.pitch,
                                         [](uint8_t v) { return v == kCanary; });
      if (!written) {
        if (failed.empty()) job->gpu_fallback = "the GPU's decoder left it unwritten";
        b.back_to_cpu.push_back(job);
        continue;
      }
      const Job::GpuDecode& g = job->gpu_decode;
      UprightImage u;
      u.src = at[i];
      u.src_pitch = static_cast<int>(image.pitch);
      u.x0 = image.rect.x;
      u.y0 = image.rect.y;
      u.stored_w = g.stored_w;
      u.stored_h = g.stored_h;
      u.orientation = g.orientation;
      u.u0 = g.window.x;
      u.v0 = g.window.y;
      u.dst_w = g.window.width;
      u.dst_h = g.window.height;
      b.upright.push_back(u);
      job->gpu_decode.pending = false;
      job->gpu_decoded = true;
      stats_.decoded_bytes.fetch_add(int64_t{u.dst_w} * u.dst_h * 3, std::memory_order_relaxed);
      job->drop_encoded();
    }
  }
  // The rest go the CPU's way, whole: decoded there and planned again (the same plan).
  for (Job* job : b.back_to_cpu) job->gpu_decode = {};
  decode_on_cpu_(b.back_to_cpu);
  stats_.gpu_decode_fallbacks.fetch_add(static_cast<int64_t>(b.back_to_cpu.size()),
                                        std::memory_order_relaxed);
  for (Job* job : b.back_to_cpu) job->drop_encoded();
}

void GpuBatchDecode::upright(std::span<Job* const> jobs, const std::vector<int>& image_of,
                             const BatchTables& tables, uint8_t* staging, GpuDecodeBuffers& b,
                             cudaStream_t stream) {
  size_t k = 0;
  int max_w = 0, max_h = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!jobs[i]->gpu_decoded) continue;
    if (image_of[i] < 0) throw GpuError("a GPU-decoded image is missing from its batch");
    UprightImage& u = b.upright.at(k++);
    u.dst = tables.images()[static_cast<size_t>(image_of[i])].src;
    max_w = std::max(max_w, u.dst_w);
    max_h = std::max(max_h, u.dst_h);
  }
  if (k == 0) return;
  const size_t table_bytes = k * sizeof(UprightImage);
  uint8_t* table = b.table.reserve(table_bytes, kAllocating);
  std::memcpy(table, b.upright.data(), table_bytes);
  uint8_t* device_table = b.device_table.reserve(table_bytes, kAllocating);
  check(cudaMemcpyAsync(device_table, table, table_bytes, cudaMemcpyHostToDevice, stream),
        "copy to the GPU");
  const UprightView view{reinterpret_cast<const UprightImage*>(device_table),
                         static_cast<int>(k), max_w, max_h, b.pixels.data(), staging};
  if (const char* error = launch_upright(view, stream))
    throw GpuError(std::string("upright kernel launch: ") + error);
  stats_.gpu_decoded.fetch_add(static_cast<int64_t>(k), std::memory_order_relaxed);
}

}  // namespace imgprep

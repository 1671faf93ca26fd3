// --decode gpu's part of a GPU batch: the jobs that the CPU side left to the GPU's JPEG decoder
// (Job::gpu_decode.pending, planned but not decoded) are decoded there, each the stored image's
// rectangle under the window its plan reads; those the decoder refuses, a failed batch and images
// it reports decoded but skipped are decoded on the CPU instead, so they join the batch with
// pixels in host memory like every other image. Then, once the batch's staging block is on the
// device, the upright kernel writes each GPU-decoded window into it, where the resample kernel
// reads it.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <span>
#include <vector>

#include "gpu_jpeg_decoder.h"
#include "imgprep/core/job.h"
#include "imgprep/core/run_stats.h"
#include "imgprep/kernels/cuda_resources.h"
#include "imgprep/kernels/resample_batch.h"
#include "imgprep/kernels/upright.h"

namespace imgprep {

// A ring slot's buffers for decoding (grow-only, reused).
struct GpuDecodeBuffers {
  cuda::DeviceGrowBuffer pixels;                  // the decoded rectangles, RGB
  cuda::PinnedGrowBuffer last_rows;               // each rectangle's last row, read back
  cuda::PinnedGrowBuffer table;                   // the upright kernel's images
  cuda::DeviceGrowBuffer device_table;
  std::vector<UprightImage> upright;              // per GPU-decoded job
  std::vector<GpuJpegDecoder::Image> images;      // per job given to the decoder
  std::vector<Job*> given, back_to_cpu;
};

class GpuBatchDecode {
 public:
  // decode_on_cpu decodes jobs (already cleared of gpu_decode) on the CPU tier's threads.
  GpuBatchDecode(GpuJpegDecoder& decoder, RunStats& stats,
                 std::function<void(std::span<Job* const>)> decode_on_cpu)
      : decoder_(decoder), stats_(stats), decode_on_cpu_(std::move(decode_on_cpu)) {}

  // Decodes the batch's pending jobs on `stream` with decoder state `state`; returns when their
  // pixels are in buffers.pixels (the jobs still pending) or in host memory (the rest).
  void decode(std::span<Job* const> jobs, GpuDecodeBuffers& buffers, int state,
              cudaStream_t stream);

  // Enqueues the upright kernel for the batch's GPU-decoded jobs: `image_of[i]` is job i's
  // index in `tables` (-1: none), whose staging block is at `staging` on the device.
  void upright(std::span<Job* const> jobs, const std::vector<int>& image_of,
               const BatchTables& tables, uint8_t* staging, GpuDecodeBuffers& buffers,
               cudaStream_t stream);

 private:
  GpuJpegDecoder& decoder_;
  RunStats& stats_;
  std::function<void(std::span<Job* const>)> decode_on_cpu_;
  cuda::PinnedGrowBuffer canary_;  // a row of kCanary bytes
};

}  // namespace imgprep

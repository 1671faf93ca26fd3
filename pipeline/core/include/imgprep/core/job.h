// One input travelling through the stages, and the fixed pool of them that bounds how many
// images are in flight. A Job is owned by one stage at a time.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <tbb/concurrent_queue.h>

#include "imgprep/datasets/input_list.h"
#include "imgprep/kernels/resample_plan.h"
#include "imgprep/kernels/upright.h"
#include "imgprep/codecs/bytes.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/core/augment.h"

namespace imgprep {

// Bounds the bytes of input files held in memory by a run's jobs, whatever their count: a file
// is held from its read until its decode. A file larger than the whole budget is read alone.
class FileBudget {
 public:
  // One file's bytes counted against a budget, until release().
  class Hold {
   public:
    void release() {
      if (budget_) budget_->give_back(std::exchange(bytes_, 0));
      budget_ = nullptr;
    }

   private:
    friend class FileBudget;
    FileBudget* budget_ = nullptr;
    uint64_t bytes_ = 0;
  };

  explicit FileBudget(uint64_t bytes) : limit_(bytes) {}
  // A gibibyte, or a quarter of the memory on smaller machines.
  static uint64_t for_this_machine() {
    const uint64_t memory = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE));
    return std::min<uint64_t>(uint64_t{1} << 30, memory / 4);
  }

  // Waits until `bytes` more fit, then counts them in hold; false (nothing held) if stop is set
  // first. Polls stop, which a signal handler sets without waking anyone.
  bool acquire(uint64_t bytes, const std::atomic<bool>& stop, Hold& hold) {
    hold.release();
    std::unique_lock lock(mutex_);
    while (held_ > 0 && held_ + bytes > limit_) {
      if (stop.load()) return false;
      freed_.wait_for(lock, std::chrono::milliseconds(50));
    }
    held_ += bytes;
    hold.budget_ = this;
    hold.bytes_ = bytes;
    return true;
  }

 private:
  void give_back(uint64_t bytes) {
    {
      std::lock_guard lock(mutex_);
      held_ -= bytes;
    }
    freed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable freed_;
  const uint64_t limit_;
  uint64_t held_ = 0;
};

struct Job {
  size_t seq = 0;  // position in the run's input order
  const InputItem* item = nullptr;
  Bytes encoded;  // file bytes
  Bytes output;   // tensor bytes, or the encoded image file
  // The tensor in GPU memory instead, in a run that keeps outputs there
  // (EngineRun::outputs_on_device); valid until the job is released.
  const uint8_t* device_output = nullptr;
  // Engines that resample elsewhere (the GPU) carry the decoded pixels and their plan.
  DecodedImage decoded;
  ResizePlan plan;
  // A JPEG left to the GPU's decoder (--decode gpu): planned, not decoded. `window` is the part
  // of the upright image that the plan reads (decoded's size and origin, without pixels); the
  // GPU decodes the stored image's rectangle under it and turns it upright.
  struct GpuDecode {
    bool pending = false;
    int orientation = 1;
    int stored_w = 0, stored_h = 0;  // the image as the file stores it
    PixelRect window;
  };
  GpuDecode gpu_decode;
  bool gpu_decoded = false;   // its pixels came from the GPU's decoder
  std::string gpu_fallback;   // why the GPU's decoder gave it back to the CPU, if it did
  int out_w = 0, out_h = 0;      // the output's size, once processed
  int width = 0, height = 0;     // original size, upright; 0 when unknown
  // Seeded augmentation's draw (Options::augment): the source box and the flip.
  CropBox box;
  bool flipped = false;
  std::string error;             // set when the input failed
  std::string warning;
  bool cancelled = false;        // claimed after the run was told to stop: not processed
  FileBudget::Hold encoded_hold;  // encoded's bytes, while they count against the run's budget

  bool ok() const { return error.empty(); }
  // Once decoded, the file bytes are no longer needed: they leave the budget, and a buffer
  // grown for a large file is freed rather than kept for the next file.
  // A JPEG left to the GPU's decoder keeps its bytes (outside the budget) until the GPU reads them.
  void drop_encoded() {
    encoded_hold.release();
    if (!gpu_decode.pending && encoded.capacity() > kKeptEncodedBytes) Bytes().swap(encoded);
  }
  void reset(size_t new_seq, const InputItem* new_item) {
    seq = new_seq;
    item = new_item;
    width = height = 0;
    device_output = nullptr;
    gpu_decode = {};
    gpu_decoded = false;
    gpu_fallback.clear();
    box = {};
    flipped = false;
    cancelled = false;
    error.clear();
    warning.clear();
  }

 private:
  static constexpr size_t kKeptEncodedBytes = size_t{4} << 20;
};

// The in-flight tokens: acquire() blocks while every job is in use. Buffers inside the jobs keep
// their capacity, so the steady state allocates nothing per image.
class JobSlots {
 public:
  explicit JobSlots(int count) : jobs_(static_cast<size_t>(count)) {
    free_.set_capacity(count);
    for (Job& job : jobs_) free_.push(&job);
  }
  Job* acquire() {
    Job* job = nullptr;
    free_.pop(job);
    return job;
  }
  void release(Job* job) {
    job->drop_encoded();  // in case no stage dropped them (a failed run)
    free_.push(job);
  }
  size_t count() const { return jobs_.size(); }

 private:
  std::vector<Job> jobs_;
  tbb::concurrent_bounded_queue<Job*> free_;
};

}  // namespace imgprep

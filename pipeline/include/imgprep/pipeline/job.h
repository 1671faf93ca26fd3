// One input travelling through the stages, and the fixed pool of them that bounds how many
// images are in flight. A Job is owned by one stage at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <tbb/concurrent_queue.h>

#include "imgprep/datasets/input_list.h"
#include "imgprep/kernels/resample_plan.h"
#include "imgprep/pipeline/bytes.h"
#include "imgprep/pipeline/decoder.h"

namespace imgprep {

struct Job {
  size_t seq = 0;  // position in the run's input order
  const InputItem* item = nullptr;
  Bytes encoded;  // file bytes
  Bytes output;   // tensor bytes, or the encoded image file
  // Engines that resample elsewhere (the GPU) carry the decoded pixels and their plan.
  DecodedImage decoded;
  ResizePlan plan;
  int out_w = 0, out_h = 0;
  int width = 0, height = 0;     // original size, upright; 0 when unknown
  std::string error;             // set when the input failed
  std::string warning;
  bool cancelled = false;        // claimed after the run was told to stop: not processed

  bool ok() const { return error.empty(); }
  void reset(size_t new_seq, const InputItem* new_item) {
    seq = new_seq;
    item = new_item;
    width = height = 0;
    cancelled = false;
    error.clear();
    warning.clear();
  }
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
  void release(Job* job) { free_.push(job); }
  size_t count() const { return jobs_.size(); }

 private:
  std::vector<Job> jobs_;
  tbb::concurrent_bounded_queue<Job*> free_;
};

}  // namespace imgprep

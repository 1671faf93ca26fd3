// Jobs finished in any order go on to the sink stage in input order. Every job from the next one
// due to the newest one read holds one of the JobSlots, so seq modulo the slot count never
// collides. Not thread-safe: one thread at a time calls put().
#pragma once

#include <vector>

#include "imgprep/engines/sink_stage.h"

namespace imgprep {

class OrderBuffer {
 public:
  OrderBuffer(size_t job_count, SinkStage& sink) : ring_(job_count), sink_(sink) {}

  void put(Job* job) {
    job->drop_encoded();  // decoded (or failed): its file bytes are done with
    ring_[job->seq % ring_.size()] = job;
    for (;;) {
      Job*& next = ring_[next_ % ring_.size()];
      if (!next) return;
      sink_.push(next);
      next = nullptr;
      ++next_;
    }
  }

 private:
  std::vector<Job*> ring_;
  size_t next_ = 0;  // the seq the sink waits for
  SinkStage& sink_;
};

}  // namespace imgprep

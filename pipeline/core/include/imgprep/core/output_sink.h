// The last stage's interface: receives every job in input order, writes its output (an npy
// shard row or an image file) and its manifest row, then completes everything atomically in
// finish(), or keeps exactly what is complete in interrupt(). Called from one thread at a time.
// The engines see only this; the concrete sinks are in imgprep/outputs/output_sinks.h.
#pragma once

#include <nlohmann/json.hpp>

#include "imgprep/core/job.h"

namespace imgprep {

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // Writes the job's output and row. A job whose own output cannot be written (its input lies
  // in OUT, its file's name or place is unusable) fails alone: job.error says why. Throws
  // OutputError when the run cannot go on (a full disk, an I/O error).
  virtual void consume(Job& job) = 0;
  // Completes all files. Returns the output description for meta.json.
  virtual nlohmann::json finish() = 0;
  // The run stopped early: drops the shard in progress and writes the manifest of what is
  // complete (the journal keeps the rest for --resume).
  virtual void interrupt() = 0;
};

}  // namespace imgprep

// The last stage: receives every job in input order, writes its output (an npy shard row or an
// image file) and its manifest row, then completes everything atomically in finish().
// Called from one thread at a time.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "imgprep/pipeline/job.h"
#include "imgprep/pipeline/manifest.h"
#include "imgprep/pipeline/options.h"
#include "imgprep/pipeline/output_spec.h"
#include "imgprep/pipeline/shard_writer.h"

namespace imgprep {

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void consume(const Job& job) = 0;
  // Completes all files. Returns the output description for meta.json.
  virtual nlohmann::json finish() = 0;
};

// Runs no output at all (benchmarks): counts only.
std::unique_ptr<OutputSink> make_null_sink();
std::unique_ptr<OutputSink> make_output_sink(const Options& options, const OutputSpec& spec,
                                             const InputList& inputs);

// Where --format images writes an input, relative to OUT: the input's relative path with the
// new extension, kept inside OUT (".." and root components are dropped).
std::filesystem::path image_output_path(const std::string& rel, const std::string& extension);

}  // namespace imgprep

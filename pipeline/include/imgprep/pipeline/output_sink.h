// The last stage: receives every job in input order, writes its output (an npy shard row or an
// image file) and its manifest row, then completes everything atomically in finish(), or keeps
// exactly what is complete in interrupt(). Called from one thread at a time.
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
#include "imgprep/pipeline/run_journal.h"
#include "imgprep/pipeline/shard_writer.h"

namespace imgprep {

class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void consume(const Job& job) = 0;
  // Completes all files. Returns the output description for meta.json.
  virtual nlohmann::json finish() = 0;
  // The run stopped early: drops the shard in progress and writes the manifest of what is
  // complete (the journal keeps the rest for --resume).
  virtual void interrupt() = 0;
};

// journal: where completed shards are recorded (and, resuming, where the run continues from);
// inputs: the inputs this run processes (those after the journal's next_input).
std::unique_ptr<OutputSink> make_output_sink(const Options& options, const OutputSpec& spec,
                                             const InputList& inputs, RunJournal& journal);

// Where --format images writes an input, relative to OUT: the input's relative path with the
// new extension, kept inside OUT (".." and root components are dropped).
std::filesystem::path image_output_path(const std::string& rel, const std::string& extension);

}  // namespace imgprep

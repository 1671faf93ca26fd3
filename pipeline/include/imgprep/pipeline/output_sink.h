// The last stage: receives every job in input order, writes its output (an npy shard row or an
// image file) and its manifest row, then completes everything atomically in finish(), or keeps
// exactly what is complete in interrupt(). Called from one thread at a time.
#pragma once

#include <filesystem>
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

// journal: where completed npy shards are recorded (and, resuming, where the run continues
// from); null for --format images. inputs: the inputs this run processes (those after the
// journal's next_input).
std::unique_ptr<OutputSink> make_output_sink(const Options& options, const OutputSpec& spec,
                                             const InputList& inputs, RunJournal* journal);

// The .npy shards (with their label files, when labels) that `rows` tensors of spec fill when
// none fails, and their bytes on disk.
struct NpyOutputSize {
  int shards = 0;
  uint64_t bytes = 0;
};
NpyOutputSize npy_output_size(const OutputSpec& spec, int shard_size, int64_t rows, bool labels);

// Where --format images writes each input, relative to OUT: the input's relative path with the
// new extension, kept inside OUT (".." and root components are dropped). No two the same and no
// file where another's folder is: an input whose path is taken keeps its own extension in the
// name ("a.png" -> "a.png.jpg"), then gets a number ("a-2.jpg", "a-3.jpg", ...). Depends only on
// the ordered inputs.
std::vector<std::filesystem::path> image_output_paths(const std::vector<InputItem>& items,
                                                      const std::string& extension);

}  // namespace imgprep

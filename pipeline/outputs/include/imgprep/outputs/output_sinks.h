// The concrete sinks behind OutputSink (imgprep/core/output_sink.h): npy shards or WebDataset tar
// shards with their manifest and journal, or image files; and the sizes and paths they write.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "imgprep/core/job.h"
#include "imgprep/core/options.h"
#include "imgprep/core/output_options.h"
#include "imgprep/core/output_sink.h"
#include "imgprep/outputs/manifest.h"
#include "imgprep/outputs/run_journal.h"
#include "imgprep/outputs/shard_writer.h"

namespace imgprep {

// journal: where completed shards are recorded (and, resuming, where the run continues from);
// null for --format images. inputs: the inputs this run processes (those after the
// journal's next_input).
std::unique_ptr<OutputSink> make_output_sink(const Options& options, const OutputSpec& spec,
                                             const InputList& inputs, RunJournal* journal);

// The shards that `rows` outputs fill when none fails, and their bytes on disk.
struct ShardOutputSize {
  int shards = 0;
  uint64_t bytes = 0;
};
// .npy shards of tensors of spec, with their label files when labels.
ShardOutputSize npy_output_size(const OutputSpec& spec, int shard_size, int64_t rows,
                                bool labels);
// --format wds tars of tensors of spec, with a .cls member per sample when labels. An estimate:
// each sample's .json member is taken to fill one block, as it does unless its path is long.
ShardOutputSize wds_output_size(const OutputSpec& spec, int shard_size, int64_t rows,
                                bool labels);

// Where --format images writes each input (by its relative path, `rels` in input order),
// relative to OUT: the input's relative path with the
// new extension, kept inside OUT (".." and root components are dropped). No two the same and no
// file where another's folder is: an input whose path is taken keeps its own extension in the
// name ("a.png" -> "a.png.jpg"), then gets a number ("a-2.jpg", "a-3.jpg", ...). Depends only on
// the ordered inputs.
std::vector<std::filesystem::path> image_output_paths(const std::vector<std::string>& rels,
                                                      const std::string& extension);

}  // namespace imgprep

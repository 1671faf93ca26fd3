// --shard K/N parts and their merge. A part is an ordinary run's folder, OUT/part-0000K-of-0000N,
// whose meta.json records which slice of which ordered input list it holds; merge_parts joins
// the parts in OUT into one dataset in OUT, row for row what one run over all the inputs writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "imgprep/datasets/input_list.h"

namespace imgprep {

// Where a run writes: OUT itself for the whole list (N = 1), OUT/part-0000K-of-0000N for a part.
std::filesystem::path part_folder(const std::filesystem::path& out, const InputSlice& slice);

// A part's "part" in its meta.json: its slice, the position and count of its inputs, and the
// count and fingerprint of the whole list they were cut from.
nlohmann::json part_record(const InputSlice& slice, const InputList& inputs);

struct MergeSummary {
  int parts = 0;
  std::string format;    // the parts' --format
  int64_t inputs = 0;    // of the whole list
  int64_t failed = 0;    // failed rows
  int64_t files = 0;     // shards (npy, wds) or image files taken into OUT
  int64_t copied = 0;    // ...of which copied: the file system refused a hard link
};

// Checks that OUT's parts come from the same inputs and settings, that they cover the whole
// list exactly once and that each is complete with all its files; then writes OUT's
// manifest.jsonl (the rows in the order of the whole list, shards renumbered), classes.json,
// index.json (the shards, each with its rows) and meta.json (last: complete, with the identity
// one run over the whole list records), taking the parts' files into OUT by hard link (a copy
// where links are refused). The parts are left as they are; merging again gives the same files.
// Throws UsageError naming the problem (a part missing, incomplete, given twice, made with
// other settings or inputs, or missing files; OUT holding one run's output), OutputError when
// OUT cannot be written.
MergeSummary merge_parts(const std::filesystem::path& out);

}  // namespace imgprep

// manifest.jsonl: one JSON object per input, in input order. Rows are held back until the
// outputs they describe are complete (commit_pending), so after an interruption the manifest
// describes exactly the completed shards. Called from one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "imgprep/outputs/atomic_file.h"

namespace imgprep {

struct ManifestRow {
  std::string path;
  bool ok = false;
  std::string error;    // failed rows
  std::string warning;  // rows that decoded with decoder warnings
  int64_t label = -1;   // -1: null
  int shard = -1, row = -1;  // npy output (wds: shard only)
  std::string key;           // wds output: the sample's key in its tar
  std::string output;        // images output: path relative to OUT
  int width = 0, height = 0; // original size when known
  std::string decoder;       // --decode gpu, ok rows: "gpu" or "cpu"; else empty (no field)
  std::string gpu_fallback;  // why the GPU's decoder gave the image back, if it did
};

// The row as its manifest line, without the newline.
std::string manifest_line(const ManifestRow& row);

class ManifestWriter {
 public:
  explicit ManifestWriter(const std::filesystem::path& out_dir);
  // Rows of an earlier, interrupted run being resumed.
  void write_committed(const std::vector<std::string>& lines);
  void add(const ManifestRow& row);  // pending
  const std::vector<std::string>& pending() const { return pending_; }
  void commit_pending();
  // Completes the file with the committed rows (pending ones are dropped). May be called again
  // after it failed.
  void finish();

 private:
  void flush();  // writes buffer_ to the file

  AtomicFile file_;
  uint64_t written_ = 0;  // bytes of the file before buffer_'s
  std::string buffer_;
  std::vector<std::string> pending_;
};

}  // namespace imgprep

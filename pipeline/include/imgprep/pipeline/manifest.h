// manifest.jsonl: one JSON object per input, in input order, written atomically at the end.
// Called from one thread at a time.
#pragma once

#include <filesystem>
#include <string>

#include "imgprep/pipeline/atomic_file.h"

namespace imgprep {

struct ManifestRow {
  std::string path;
  bool ok = false;
  std::string error;    // failed rows
  std::string warning;  // rows that decoded with decoder warnings
  int64_t label = -1;   // -1: null
  int shard = -1, row = -1;  // npy output
  std::string output;        // images output: path relative to OUT
  int width = 0, height = 0; // original size when known
};

class ManifestWriter {
 public:
  explicit ManifestWriter(const std::filesystem::path& out_dir);
  void add(const ManifestRow& row);
  void commit();

 private:
  AtomicFile file_;
  std::string buffer_;
};

}  // namespace imgprep

// Writes tensors row by row into numbered .npy shards (shard-00000.npy, ...) with matching int64
// label shards, each renamed into place once complete. Called from one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "imgprep/outputs/atomic_file.h"

namespace imgprep {

class BlockWriter;

class ShardWriter {
 public:
  // descr: numpy dtype string ("<f4", "<f2", "|u1"); item_shape: one tensor's shape;
  // expected_rows: how many rows will probably come (disk is reserved for them up front);
  // first_shard: the index of the first shard to write (a resumed run's). The shards before it,
  // recorded by lines 1..first_shard of OUT/journal.jsonl, must be on disk whole, as this
  // writer would have written them (their label shards too): otherwise throws OutputError.
  ShardWriter(std::filesystem::path dir, int shard_size, std::string descr,
              std::vector<int64_t> item_shape, bool labels, int64_t expected_rows,
              int first_shard = 0);
  ~ShardWriter();

  struct Location {
    int shard = 0;
    int row = 0;
    bool completed_shard = false;  // this row filled its shard, which is now durable
  };
  Location append(const void* tensor, int64_t label);
  void finish();   // completes the shard in progress
  void abandon();  // drops the shard in progress (its temporary file goes)
  int shards_written() const { return shards_written_; }

  static std::string shard_name(int index);
  static std::string labels_name(int index);
  // Why shard `index` of dir, with `rows` rows (and its label shard, when `labels`), is not as
  // a writer with these settings left it: "shard-00003.npy is missing", "... is 100 bytes, not
  // 200"; empty when it is.
  static std::string shard_problem(const std::filesystem::path& dir, int index, int shard_size,
                                   const std::string& descr,
                                   const std::vector<int64_t>& item_shape, bool labels, int rows);

 private:
  std::vector<int64_t> shape_for(int rows) const;
  // Throws unless the complete shard `index` (and its labels) is on disk.
  void check_on_disk(int index) const;
  void open_shard();
  void put(const void* data, size_t size);  // appends bytes to the shard in progress
  void flush_block();
  void close_shard();

  // Shards opened for direct I/O are written in blocks of this size, kBlocks at most in flight.
  static constexpr size_t kBlockBytes = size_t{4} << 20;
  static constexpr int kBlocks = 3;

  std::filesystem::path dir_;
  int shard_size_;
  std::string descr_;
  std::vector<int64_t> item_shape_;
  size_t item_bytes_;
  bool labels_;
  size_t header_size_;
  int64_t expected_rows_;
  int64_t rows_total_ = 0;
  uint64_t size_ = 0;       // bytes of the shard in progress so far, the header included
  uint64_t unflushed_ = 0;  // bytes written since the last start_writeback (page cache only)
  bool in_blocks_ = false;  // the shard in progress is written in direct-I/O blocks
  char* block_ = nullptr;   // the block being filled, from blocks_
  size_t blocked_ = 0;      // bytes in block_, the last ones of the shard so far

  std::unique_ptr<AtomicFile> file_;
  std::vector<int64_t> shard_labels_;
  int rows_ = 0;
  int shards_written_ = 0;
  // Declared after file_, so that it stops (and finishes its writes) before file_ closes.
  std::unique_ptr<BlockWriter> blocks_;
};

}  // namespace imgprep

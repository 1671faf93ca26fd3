// POSIX ustar archives as WebDataset reads them: each member's 512-byte header is written here by
// hand (a fixed layout; a library such as libarchive would be a runtime dependency of every
// binary, the GPU kit's included), with fixed fields, so the bytes depend only on the members.
// Private to outputs/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "imgprep/outputs/atomic_file.h"

namespace imgprep {

inline constexpr size_t kTarBlock = 512;
// An archive ends with two zero blocks.
inline constexpr size_t kTarEnd = 2 * kTarBlock;

// The header of a regular file member: mode 0644, uid and gid 0, no user or group name, mtime 0.
// name: at most 100 bytes; size: below 8 GiB (11 octal digits). Throws std::length_error
// otherwise.
std::string tar_header(std::string_view name, uint64_t size);

// The bytes a member of `size` bytes takes: its header and its data padded to whole blocks.
constexpr uint64_t tar_member_bytes(uint64_t size) {
  return kTarBlock + (size + kTarBlock - 1) / kTarBlock * kTarBlock;
}

// Why the file at path is not a complete tar of `bytes` bytes as TarShardWriter writes them
// (a ustar header first, the end blocks last); empty if it is.
std::string tar_problem(const std::filesystem::path& path, uint64_t bytes);

// Writes samples into numbered tar shards (shard-00000.tar, ...), shard_size samples each, each
// renamed into place once complete. Called from one thread at a time.
class TarShardWriter {
 public:
  // A member's bytes, in two pieces that follow each other (head may be empty): a .npy file is
  // its header and the tensor, which is not copied to join them.
  struct Member {
    std::string name;
    std::string_view head, body;
  };

  // first_shard: the index of the first shard to write (a resumed run's). The shards before it
  // must be on disk whole, of the sizes journalled_bytes (the journal's lines 1..first_shard)
  // gives: otherwise throws OutputError.
  TarShardWriter(std::filesystem::path dir, int shard_size, int first_shard,
                 const std::vector<uint64_t>& journalled_bytes);
  ~TarShardWriter();

  struct Location {
    int shard = 0;
    bool completed_shard = false;  // this sample filled its shard, which is now durable
    uint64_t shard_bytes = 0;      // when it did: the shard's size
  };
  Location append(const std::vector<Member>& sample);
  void finish();   // completes the shard in progress
  void abandon();  // drops the shard in progress (its temporary file goes)
  int shards_written() const { return shards_written_; }

  static std::string shard_name(int index);

 private:
  void put(std::string_view bytes);
  void flush();
  // Completes the shard in progress; returns its size.
  uint64_t close_shard();

  std::filesystem::path dir_;
  int shard_size_;
  std::unique_ptr<AtomicFile> file_;
  std::string buffer_;      // bytes of the shard in progress not yet written
  uint64_t size_ = 0;       // bytes of the shard in progress, buffer_'s included
  uint64_t unflushed_ = 0;  // bytes written since the last start_writeback
  int samples_ = 0;         // in the shard in progress
  int shards_written_ = 0;
};

}  // namespace imgprep

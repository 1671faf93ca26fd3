// A file written under a temporary name and renamed into place on commit, so readers never see
// a partial file under the final name. Not thread-safe; one writer per file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace imgprep {

// Writing an output failed (disk full, permission denied, ...). The run cannot continue.
struct OutputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class AtomicFile {
 public:
  // direct_if_possible opens the file with O_DIRECT where the filesystem allows it: writes
  // then go from the caller's memory to the disk without being copied into the page cache.
  enum class Caching { page_cache, direct_if_possible };
  // While direct() is true, write_at takes whole blocks: data, size and offset multiples of
  // kDirectAlign.
  static constexpr size_t kDirectAlign = 4096;

  explicit AtomicFile(std::filesystem::path target, Caching caching = Caching::page_cache);
  ~AtomicFile();  // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write_at(const void* data, size_t size, uint64_t offset);
  bool direct() const { return direct_; }
  // Later writes go through the page cache (and may be of any size and offset).
  void end_direct();
  // Allocates size bytes of disk up front (faster writes; a full disk shows at once).
  // Filesystems without fallocate are left as they are.
  void reserve(uint64_t size);
  void truncate(uint64_t size);
  // Starts writing what has been written so far to disk, without waiting, so that a later
  // durable commit has little left to wait for.
  void start_writeback();
  // Renames into place; durable: the data (fsync) before, and the folder entry after.
  void commit(bool durable = true);

  // Whole-file convenience: write content, commit (durably unless told otherwise).
  static void write_file(const std::filesystem::path& target, std::string_view content,
                         bool durable = true);
  // fsync of a folder, so that renames in it survive a power loss.
  static void sync_folder(const std::filesystem::path& folder);
  // syncfs of the file system that holds folder: everything written to it is durable after.
  static void sync_filesystem(const std::filesystem::path& folder);

 private:
  [[noreturn]] void fail(const char* what) const;

  std::filesystem::path target_, temp_;
  int fd_ = -1;
  bool direct_ = false;
};

}  // namespace imgprep

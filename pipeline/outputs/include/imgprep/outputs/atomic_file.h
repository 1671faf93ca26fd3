// A file written under a temporary name and renamed into place on commit, so readers never see
// a partial file under the final name. Files are created by name in an open folder, with
// O_EXCL and O_NOFOLLOW: no write follows a symlink that was in place before (a symlink at the
// final name is replaced by the file, its target left alone). Not thread-safe; one writer per
// file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace imgprep {

// Writing an output failed (disk full, permission denied, ...). The run cannot continue, unless
// about_the_name() says that only this file's name or place is at fault.
struct OutputError : std::runtime_error {
  explicit OutputError(const std::string& what, int code = 0)
      : std::runtime_error(what), code(code) {}
  // A name too long, a symlink or a file where a folder belongs, a folder where the file
  // belongs: another file may still be written.
  bool about_the_name() const;

  int code;  // errno of the call that failed; 0 when none
};

// An open folder, a writable place for AtomicFiles. Subfolders are entered by name without
// following symlinks, so what is written below it stays below it.
class Folder {
 public:
  // Opens path, following symlinks in it (OUT itself may be one).
  explicit Folder(const std::filesystem::path& path);
  ~Folder();
  Folder(const Folder& other);  // a descriptor of its own (dup)
  Folder(Folder&& other) noexcept;
  Folder& operator=(Folder other) noexcept;

  // The subfolder name (one component), created when missing; OutputError when it is a symlink
  // or not a folder.
  Folder sub(const std::string& name) const;
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  // fsync: renames in the folder survive a power loss.
  void sync() const;
  // syncfs of the file system that holds the folder: everything written to it is durable after.
  void sync_filesystem() const;

 private:
  Folder(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::filesystem::path path_;  // for messages
};

class AtomicFile {
 public:
  // direct_if_possible opens the file with O_DIRECT where the filesystem allows it: writes
  // then go from the caller's memory to the disk without being copied into the page cache.
  enum class Caching { page_cache, direct_if_possible };
  // While direct() is true, write_at takes whole blocks: data, size and offset multiples of
  // kDirectAlign.
  static constexpr size_t kDirectAlign = 4096;

  // target's folder is opened as Folder(target.parent_path()) does.
  explicit AtomicFile(const std::filesystem::path& target, Caching caching = Caching::page_cache);
  // The file name (one component) in folder.
  AtomicFile(Folder folder, const std::string& name, Caching caching = Caching::page_cache);
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
  // The temporary name of a file named name: "NAME.part", or, where that would be longer than
  // a file name may be, NAME shortened and a hash of it, so it fits whenever NAME does.
  static std::string temp_name(const std::string& name);

 private:
  [[noreturn]] void fail(const char* what) const;
  void open(Caching caching);

  Folder folder_;
  std::filesystem::path shown_;  // the final path, for messages
  std::string name_, temp_;
  int fd_ = -1;
  bool direct_ = false;
};

}  // namespace imgprep

#include "imgprep/outputs/atomic_file.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "imgprep/outputs/fd_io.h"

namespace imgprep {
namespace fs = std::filesystem;

bool OutputError::about_the_name() const {
  return code == ENAMETOOLONG || code == ELOOP || code == ENOTDIR || code == EISDIR ||
         code == EEXIST;
}

namespace {

[[noreturn]] void fail_at(const std::string& what, const fs::path& path, int error) {
  throw OutputError(what + " " + path.string() + ": " + std::strerror(error), error);
}

}  // namespace

Folder::Folder(const fs::path& path) : path_(path.empty() ? "." : path) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) fail_at("cannot open folder", path_, errno);
}

Folder::~Folder() {
  if (fd_ >= 0) ::close(fd_);
}

Folder::Folder(const Folder& other)
    : fd_(::fcntl(other.fd_, F_DUPFD_CLOEXEC, 0)), path_(other.path_) {
  if (fd_ < 0) fail_at("cannot open folder", path_, errno);
}

Folder::Folder(Folder&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

Folder& Folder::operator=(Folder other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(path_, other.path_);
  return *this;
}

Folder Folder::sub(const std::string& name) const {
  const fs::path path = path_ / name;
  constexpr int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::openat(fd_, name.c_str(), flags);
  if (fd < 0 && errno == ENOENT) {
    if (::mkdirat(fd_, name.c_str(), 0777) != 0 && errno != EEXIST)
      fail_at("cannot create folder", path, errno);
    fd = ::openat(fd_, name.c_str(), flags);
  }
  if (fd >= 0) return Folder(fd, path);
  const int error = errno;
  // O_NOFOLLOW | O_DIRECTORY refuses a symlink as not a folder: say which it is.
  struct stat st;
  if (error == ENOTDIR && ::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode))
    throw OutputError(path.string() + " is a symbolic link; imgprep writes only into folders "
                      "it can enter without following one", ELOOP);
  fail_at("cannot enter folder", path, error);
}

void Folder::sync() const {
  if (::fsync(fd_) != 0) fail_at("cannot sync", path_, errno);
}

void Folder::sync_filesystem() const {
  if (::syncfs(fd_) != 0) fail_at("cannot sync", path_, errno);
}

std::string AtomicFile::temp_name(const std::string& name) {
  constexpr size_t kSuffix = 5;  // ".part"
  if (name.size() + kSuffix <= NAME_MAX) return name + ".part";
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: names that share the kept prefix differ
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  char tail[24];
  std::snprintf(tail, sizeof tail, "-%016llx.part", static_cast<unsigned long long>(hash));
  return name.substr(0, NAME_MAX - std::strlen(tail)) + tail;
}

AtomicFile::AtomicFile(const fs::path& target, Caching caching)
    : AtomicFile(Folder(target.parent_path()), target.filename().string(), caching) {}

AtomicFile::AtomicFile(Folder folder, const std::string& name, Caching caching)
    : folder_(std::move(folder)), shown_(folder_.path() / name), name_(name),
      temp_(temp_name(name)) {
  open(caching);
}

void AtomicFile::open(Caching caching) {
  if (name_.size() > NAME_MAX) {
    errno = ENAMETOOLONG;
    fail("cannot create");
  }
  // A temporary file a killed run left behind goes first; were it a symlink, the link goes,
  // not its target. O_EXCL | O_NOFOLLOW then creates a new file or fails.
  ::unlinkat(folder_.fd(), temp_.c_str(), 0);
  fd_ = ::openat(folder_.fd(), temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0644);
  if (fd_ < 0) fail("cannot create");
  // EINVAL: the filesystem has no direct I/O; the file goes through the page cache.
  if (caching == Caching::direct_if_possible) {
    const int flags = ::fcntl(fd_, F_GETFL);
    direct_ = flags >= 0 && ::fcntl(fd_, F_SETFL, flags | O_DIRECT) == 0;
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlinkat(folder_.fd(), temp_.c_str(), 0);
  }
}

void AtomicFile::fail(const char* what) const { fail_at(what, shown_, errno); }

void AtomicFile::write(const void* data, size_t size) {
  if (!write_all(fd_, data, size)) fail("cannot write");
}

void AtomicFile::write_at(const void* data, size_t size, uint64_t offset) {
  if (write_all(fd_, data, size, static_cast<int64_t>(offset))) return;
  // A filesystem that accepted O_DIRECT at open may still refuse the write (EINVAL), and a
  // short direct write leaves the rest unaligned: both finish through the page cache. Bytes a
  // failed write wrote are simply written again.
  if (direct_ && errno == EINVAL) {
    end_direct();
    if (write_all(fd_, data, size, static_cast<int64_t>(offset))) return;
  }
  fail("cannot write");
}

void AtomicFile::end_direct() {
  if (!direct_) return;
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) fail("cannot end direct I/O on");
  direct_ = false;
}

void AtomicFile::reserve(uint64_t size) {
  if (::fallocate(fd_, 0, 0, static_cast<off_t>(size)) != 0 && errno != EOPNOTSUPP &&
      errno != ENOSYS)
    fail("cannot allocate space for");
}

void AtomicFile::truncate(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail("cannot truncate");
}

void AtomicFile::start_writeback() {
  ::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);  // advisory: errors show at fsync
}

void AtomicFile::commit(bool durable) {
  if (durable && ::fsync(fd_) != 0) fail("cannot sync");
  if (::close(fd_) != 0) {
    const int error = errno;
    fd_ = -1;
    ::unlinkat(folder_.fd(), temp_.c_str(), 0);
    errno = error;
    fail("cannot close");
  }
  fd_ = -1;
  // A symlink at the final name is replaced, never followed.
  if (::renameat(folder_.fd(), temp_.c_str(), folder_.fd(), name_.c_str()) != 0) {
    const int error = errno;
    ::unlinkat(folder_.fd(), temp_.c_str(), 0);
    errno = error;
    fail("cannot rename into");
  }
  if (durable) folder_.sync();
}

void AtomicFile::write_file(const fs::path& target, std::string_view content, bool durable) {
  AtomicFile file(target);
  file.write(content.data(), content.size());
  file.commit(durable);
}

}  // namespace imgprep

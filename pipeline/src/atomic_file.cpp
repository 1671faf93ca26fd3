#include "imgprep/pipeline/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fd_io.h"

namespace imgprep {

AtomicFile::AtomicFile(std::filesystem::path target, Caching caching)
    : target_(std::move(target)), temp_(target_.string() + ".part") {
  constexpr int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  if (caching == Caching::direct_if_possible) {
    fd_ = ::open(temp_.c_str(), flags | O_DIRECT, 0644);
    direct_ = fd_ >= 0;
  }
  // EINVAL: the filesystem has no direct I/O; any other error shows again here.
  if (fd_ < 0) fd_ = ::open(temp_.c_str(), flags, 0644);
  if (fd_ < 0) fail("cannot create");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

void AtomicFile::fail(const char* what) const {
  throw OutputError(std::string(what) + " " + temp_.string() + ": " + std::strerror(errno));
}

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

namespace {

// sync (fsync or syncfs) on folder, opened for it; OutputError "cannot sync FOLDER: why".
void sync_through_folder(const std::filesystem::path& folder, int (*sync)(int)) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || sync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    throw OutputError("cannot sync " + folder.string() + ": " + std::strerror(error));
  }
  ::close(fd);
}

}  // namespace

void AtomicFile::sync_folder(const std::filesystem::path& folder) {
  sync_through_folder(folder, ::fsync);
}

void AtomicFile::sync_filesystem(const std::filesystem::path& folder) {
  sync_through_folder(folder, ::syncfs);
}

void AtomicFile::commit(bool durable) {
  if (durable && ::fsync(fd_) != 0) fail("cannot sync");
  if (::close(fd_) != 0) {
    fd_ = -1;
    ::unlink(temp_.c_str());
    fail("cannot close");
  }
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    ::unlink(temp_.c_str());
    fail("cannot rename");
  }
  if (durable) sync_folder(target_.parent_path().empty() ? "." : target_.parent_path());
}

void AtomicFile::write_file(const std::filesystem::path& target, std::string_view content,
                            bool durable) {
  AtomicFile file(target);
  file.write(content.data(), content.size());
  file.commit(durable);
}

}  // namespace imgprep

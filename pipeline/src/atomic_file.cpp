#include "imgprep/pipeline/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fd_io.h"

namespace imgprep {

AtomicFile::AtomicFile(std::filesystem::path target)
    : target_(std::move(target)), temp_(target_.string() + ".part") {
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
  if (!write_all(fd_, data, size, static_cast<int64_t>(offset))) fail("cannot write");
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

void AtomicFile::sync_folder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    throw OutputError("cannot sync folder " + folder.string() + ": " + std::strerror(error));
  }
  ::close(fd);
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

void AtomicFile::write_file(const std::filesystem::path& target, std::string_view content) {
  AtomicFile file(target);
  file.write(content.data(), content.size());
  file.commit();
}

}  // namespace imgprep

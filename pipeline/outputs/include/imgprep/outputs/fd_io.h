// Whole writes to a file descriptor: retried after signals and short writes. Each returns false
// with errno set when the write fails (a write of 0 bytes counts as failed, errno as it was).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace imgprep {

// write(2) when offset is negative, pwrite(2) at offset otherwise.
inline bool write_all(int fd, const void* data, size_t size, int64_t offset = -1) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = offset < 0 ? ::write(fd, p, size) : ::pwrite(fd, p, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
    if (offset >= 0) offset += n;
  }
  return true;
}

}  // namespace imgprep

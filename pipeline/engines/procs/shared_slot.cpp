#include "shared_slot.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "imgprep/engines/procs_engine.h"

namespace imgprep {
namespace {

[[noreturn]] void fail(const char* what) {
  throw WorkerError(std::string("shared memory: ") + what + ": " + std::strerror(errno));
}

}  // namespace

SharedSlot::SharedSlot() : fd_(::memfd_create("imgprep-slot", MFD_CLOEXEC)) {
  if (fd_ < 0) fail("memfd_create");
}

SharedSlot::SharedSlot(int fd) : fd_(fd) {
  struct stat st;
  if (::fstat(fd_, &st) != 0) fail("fstat");
  remap(static_cast<size_t>(st.st_size));
}

SharedSlot::~SharedSlot() {
  if (data_) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
}

SharedSlot::SharedSlot(SharedSlot&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

void SharedSlot::grow(size_t size) {
  if (size <= size_) return;
  const size_t target = std::max(size + size / 4, size_t{1} << 20);
  if (::ftruncate(fd_, static_cast<off_t>(target)) != 0) fail("ftruncate");
  remap(target);
}

void SharedSlot::remap(size_t size) {
  if (size == size_) return;
  void* data = data_ ? ::mremap(data_, size_, size, MREMAP_MAYMOVE)
                     : ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (data == MAP_FAILED) fail("mmap");
  data_ = static_cast<uint8_t*>(data);
  size_ = size;
}

}  // namespace imgprep

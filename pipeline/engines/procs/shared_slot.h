// A buffer in shared memory (a memfd mapped MAP_SHARED) that the procs engine and one worker
// process both map: file bytes go in and the output comes back without passing through a pipe.
// Grow-only, so the other side's mapping never extends past the end of the file. The protocol
// decides whose turn it is: only the side that holds the slot reads, writes or grows it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace imgprep {

class SharedSlot {
 public:
  SharedSlot();            // a new, empty memfd (the engine's side); throws WorkerError
  explicit SharedSlot(int fd);  // a received memfd (the worker's side), mapped at its size
  ~SharedSlot();
  SharedSlot(SharedSlot&& other) noexcept;
  SharedSlot& operator=(SharedSlot&&) = delete;
  SharedSlot(const SharedSlot&) = delete;
  SharedSlot& operator=(const SharedSlot&) = delete;

  int fd() const { return fd_; }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Makes the memfd at least `size` bytes (with headroom, so sizes settle quickly) and maps it.
  void grow(size_t size);
  // The other side grew the memfd to `size` bytes: maps that much.
  void remap(size_t size);

 private:
  int fd_ = -1;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace imgprep

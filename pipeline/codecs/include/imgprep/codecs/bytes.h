// Growable buffers whose resize() leaves new elements uninitialised: pixel and file buffers are
// always overwritten right after, and zero-filling them cost a memset per image.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace imgprep {

template <class T>
struct DefaultInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class T>
using Buffer = std::vector<T, DefaultInitAllocator<T>>;
using Bytes = Buffer<uint8_t>;

}  // namespace imgprep

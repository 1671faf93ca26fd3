// Writes blocks of a file on a thread of its own, so that waiting for the disk (a direct write
// returns only once the device has the data) overlaps with filling the next block. Blocks are
// kDirectAlign-aligned, so they suit AtomicFile's direct I/O. One thread at a time calls the
// public functions; the file must outlive every write queued for it (drain() first).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "imgprep/outputs/atomic_file.h"

namespace imgprep {

class BlockWriter {
 public:
  BlockWriter(size_t block_bytes, int blocks);
  ~BlockWriter();  // drains, ignoring errors
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  // A free block to fill; waits while every block is queued. Rethrows a failed write's error.
  char* acquire();
  // Queues size bytes of block (from acquire) for file at offset; the block is free again once
  // written. Rethrows the error of an earlier failed write.
  void write(AtomicFile& file, char* block, size_t size, uint64_t offset);
  // Gives back a block from acquire without writing it.
  void release(char* block);
  // Waits until every queued write is done; rethrows the first failed write's error. After a
  // failure every call rethrows it: the writes since are dropped, so the file is unusable.
  void drain();

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  struct Pending {
    AtomicFile* file;
    char* block;
    size_t size;
    uint64_t offset;
  };
  void work();
  void rethrow_locked(std::unique_lock<std::mutex>& lock);

  std::vector<std::unique_ptr<char, Free>> storage_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<char*> free_;
  std::deque<Pending> pending_;
  bool writing_ = false;  // the thread is writing a block taken off pending_
  bool quit_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace imgprep

#include "block_writer.h"

#include <new>

namespace imgprep {

BlockWriter::BlockWriter(size_t block_bytes, int blocks) {
  for (int i = 0; i < blocks; ++i) {
    storage_.emplace_back(static_cast<char*>(std::aligned_alloc(AtomicFile::kDirectAlign, block_bytes)));
    if (!storage_.back()) throw std::bad_alloc();
    free_.push_back(storage_.back().get());
  }
  thread_ = std::thread([this] { work(); });
}

BlockWriter::~BlockWriter() {
  try {
    drain();
  } catch (...) {
  }
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BlockWriter::rethrow_locked(std::unique_lock<std::mutex>& lock) {
  if (!error_) return;
  const std::exception_ptr error = error_;
  lock.unlock();
  std::rethrow_exception(error);
}

char* BlockWriter::acquire() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !free_.empty() || error_; });
  rethrow_locked(lock);
  char* block = free_.back();
  free_.pop_back();
  return block;
}

void BlockWriter::write(AtomicFile& file, char* block, size_t size, uint64_t offset) {
  std::unique_lock lock(mutex_);
  if (error_) {
    free_.push_back(block);
    rethrow_locked(lock);
  }
  pending_.push_back({&file, block, size, offset});
  lock.unlock();
  changed_.notify_all();
}

void BlockWriter::release(char* block) {
  {
    std::lock_guard lock(mutex_);
    free_.push_back(block);
  }
  changed_.notify_all();
}

void BlockWriter::drain() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return pending_.empty() && !writing_; });
  rethrow_locked(lock);
}

void BlockWriter::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return quit_ || !pending_.empty(); });
    if (pending_.empty()) return;
    const Pending p = pending_.front();
    pending_.pop_front();
    writing_ = true;
    lock.unlock();
    std::exception_ptr error;
    try {
      p.file->write_at(p.block, p.size, p.offset);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    writing_ = false;
    if (error && !error_) error_ = error;
    // After a failure the rest of the queue is dropped: the file is abandoned anyway.
    if (error_) {
      for (const Pending& dropped : pending_) free_.push_back(dropped.block);
      pending_.clear();
    }
    free_.push_back(p.block);
    changed_.notify_all();
  }
}

}  // namespace imgprep

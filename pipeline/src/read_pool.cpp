#include "imgprep/pipeline/read_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imgprep {
namespace {
constexpr off_t kMaxFileBytes = off_t{2} << 30;
}

std::string read_file(const std::filesystem::path& path, Bytes& out) {
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::string("cannot open: ") + std::strerror(errno);
  struct stat st;
  std::string error;
  if (::fstat(fd, &st) != 0)
    error = std::string("cannot stat: ") + std::strerror(errno);
  else if (!S_ISREG(st.st_mode))
    error = "not a regular file";
  else if (st.st_size > kMaxFileBytes)
    error = "file larger than 2 GiB";
  if (error.empty()) {
    out.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = std::string("read error: ") + std::strerror(errno);
        break;
      }
      if (n == 0) break;  // the file shrank while being read
      got += static_cast<size_t>(n);
    }
    out.resize(got);
  }
  ::close(fd);
  return error;
}

ReadPool::ReadPool(const std::vector<InputItem>& items, int threads, JobSlots& slots,
                   RunStats& stats, const std::atomic<bool>& stop)
    : items_(items), thread_count_(threads), slots_(slots), stats_(stats), stop_(stop) {}

ReadPool::~ReadPool() { join(); }

void ReadPool::start(std::function<void(Job*)> emit, std::function<void()> done) {
  emit_ = std::move(emit);
  done_ = std::move(done);
  running_ = thread_count_;
  for (int i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { work(); });
}

void ReadPool::join() {
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void ReadPool::work() {
  while (!stop_.load()) {
    // Take the slot before the input: the oldest claimed input then always holds a slot, so the
    // in-order sink can never wait on an input that waits for a slot. Every claimed input is
    // emitted (cancelled once the run stops), so the claimed inputs stay a gap-free prefix.
    Job* job = slots_.acquire();
    const size_t seq = next_.fetch_add(1);
    if (seq >= items_.size()) {
      slots_.release(job);
      break;
    }
    job->reset(seq, &items_[seq]);
    if (stop_.load()) {
      job->cancelled = true;
    } else {
      StageTimer timer(stats_, Stage::read);
      job->error = read_file(job->item->path, job->encoded);
    }
    emit_(job);
  }
  if (running_.fetch_sub(1) == 1) done_();
}

}  // namespace imgprep

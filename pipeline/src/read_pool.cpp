#include "imgprep/pipeline/read_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

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

void read_input(const Options& options, RunStats& stats, Job& job) {
  StageTimer timer(stats, Stage::read);
  if (options.io_latency_ms > 0)
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options.io_latency_ms));
  job.error = read_file(job.item->path, job.encoded);
}

ReadPool::ReadPool(EngineRun& run, JobSlots& slots) : run_(run), slots_(slots) {}

ReadPool::~ReadPool() { join(); }

void ReadPool::start(std::function<void(Job*)> emit, std::function<void()> done) {
  emit_ = std::move(emit);
  done_ = std::move(done);
  running_ = run_.options.io_threads;
  for (int i = 0; i < run_.options.io_threads; ++i) threads_.emplace_back([this] { work(); });
}

void ReadPool::join() {
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void ReadPool::work() {
  while (!run_.stop.load()) {
    // Take the slot before the input: the oldest claimed input then always holds a slot, so the
    // in-order sink can never wait on an input that waits for a slot. Every claimed input is
    // emitted (cancelled once the run stops), so the claimed inputs stay a gap-free prefix.
    Job* job = slots_.acquire();
    const size_t seq = next_.fetch_add(1);
    if (seq >= run_.items.size()) {
      slots_.release(job);
      break;
    }
    job->reset(seq, &run_.items[seq]);
    if (run_.stop.load()) {
      job->cancelled = true;
    } else {
      read_input(run_.options, run_.stats, *job);
    }
    run_.stats.enqueue(Stage::decode);
    emit_(job);
  }
  if (running_.fetch_sub(1) == 1) done_();
}

}  // namespace imgprep

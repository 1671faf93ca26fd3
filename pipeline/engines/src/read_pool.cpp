#include "imgprep/engines/read_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "imgprep/codecs/image_format.h"
#include "imgprep/codecs/image_header.h"

namespace imgprep {
namespace {
constexpr off_t kMaxFileBytes = off_t{2} << 30;
// Read first: enough for every header but a JPEG's or TIFF's that lies further in.
constexpr size_t kHeadBytes = size_t{64} << 10;

// Opens a regular file of at most 2 GiB; returns an error message, empty on success.
std::string open_file(const std::filesystem::path& path, int& fd, uint64_t& size) {
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::string("cannot open: ") + std::strerror(errno);
  struct stat st;
  std::string error;
  if (::fstat(fd, &st) != 0)
    error = std::string("cannot stat: ") + std::strerror(errno);
  else if (!S_ISREG(st.st_mode))
    error = "not a regular file";
  else if (st.st_size > kMaxFileBytes)
    error = "file larger than 2 GiB";
  size = static_cast<uint64_t>(st.st_size);
  return error;
}

// Reads the file's bytes [out.size(), end) onto the end of out; stops early (out ends
// shorter) if the file shrank. Returns an error message, empty on success.
std::string read_to(int fd, uint64_t end, Bytes& out) {
  size_t got = out.size();
  out.resize(end);
  std::string error;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::string("read error: ") + std::strerror(errno);
      break;
    }
    if (n == 0) break;  // the file shrank while being read
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return error;
}

// n bytes at offset `at`: from head when they lie in it, else from the file.
bool bytes_at(int fd, std::span<const uint8_t> head, uint64_t at, uint8_t* dst, size_t n) {
  if (at + n <= head.size()) {
    std::memcpy(dst, head.data() + at, n);
    return true;
  }
  return ::pread(fd, dst, n, static_cast<off_t>(at)) == static_cast<ssize_t>(n);
}

// Why the rest of a file whose first bytes are head is not worth reading; empty if it may be.
// The decoder makes the same checks on the whole file.
std::string head_problem(int fd, std::span<const uint8_t> head, uint64_t max_pixels) {
  const ImageFormat format = sniff_format(head.first(std::min(head.size(), kSniffBytes)));
  if (format == ImageFormat::unknown) return "not a recognised image format";
  const std::optional<ImageSize> size =
      format == ImageFormat::jpeg
          ? read_jpeg_size([&](uint64_t at, uint8_t* dst, size_t n) {
              return bytes_at(fd, head, at, dst, n);
            })
          : read_image_size(format, head);
  if (!size || size->width <= 0 || size->height <= 0) return {};
  return pixel_limit_error(size->width, size->height, max_pixels);
}

}  // namespace

std::string read_file(const std::filesystem::path& path, Bytes& out) {
  out.clear();
  int fd = -1;
  uint64_t size = 0;
  std::string error = open_file(path, fd, size);
  if (error.empty()) error = read_to(fd, size, out);
  if (fd >= 0) ::close(fd);
  return error;
}

std::string read_image_file(const std::filesystem::path& path, const FileLimits& limits,
                            Bytes& out) {
  out.clear();
  int fd = -1;
  uint64_t size = 0;
  std::string error = open_file(path, fd, size);
  if (error.empty()) error = read_to(fd, std::min<uint64_t>(size, kHeadBytes), out);
  if (error.empty() && out.size() == kHeadBytes && size > kHeadBytes) {
    error = head_problem(fd, out, limits.max_pixels);
    if (error.empty() && limits.budget && !limits.budget->acquire(size, *limits.stop, *limits.hold))
      error = kReadStopped;
    if (error.empty()) error = read_to(fd, size, out);
  }
  if (fd >= 0) ::close(fd);
  return error;
}

void read_input(const Options& options, RunStats& stats, Job& job, FileBudget* budget,
                const std::atomic<bool>* stop) {
  StageTimer timer(stats, Stage::read);
  if (options.io_latency_ms > 0)
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options.io_latency_ms));
  job.error = read_image_file(job.item->path,
                              {options.max_pixels, budget, &job.encoded_hold, stop}, job.encoded);
  if (job.error == kReadStopped) {
    job.error.clear();
    job.cancelled = true;
  }
}

ReadPool::ReadPool(EngineRun& run, JobSlots& slots)
    : run_(run), slots_(slots), budget_(FileBudget::for_this_machine()) {}

ReadPool::~ReadPool() { join_threads(); }

void ReadPool::start(std::function<void(Job*)> emit, std::function<void()> done) {
  emit_ = std::move(emit);
  done_ = std::move(done);
  const int count = run_.options.io_threads;
  running_ = count;
  for (int i = 0; i < count; ++i) {
    try {
      threads_.emplace_back([this] { work(); });
    } catch (const std::system_error& e) {
      // The threads that did start stop at once and the run fails with why (join()).
      error_ = std::make_exception_ptr(std::runtime_error(
          "cannot start I/O thread " + std::to_string(i + 1) + " of " + std::to_string(count) +
          ": " + e.what()));
      run_.stop = true;
      if (running_.fetch_sub(count - i) == count - i) done_();
      return;
    }
  }
}

void ReadPool::join() {
  join_threads();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ReadPool::join_threads() {
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void ReadPool::work() {
  while (!run_.stop.load()) {
    // Take the slot before the input: the oldest claimed input then always holds a slot, so the
    // in-order sink can never wait on an input that waits for a slot. Every claimed input is
    // emitted (cancelled once the run stops), so the claimed inputs stay a gap-free prefix.
    // Nor on one that waits for the budget: the bytes in it are released once decoded.
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
      read_input(run_.options, run_.stats, *job, &budget_, &run_.stop);
    }
    run_.stats.enqueue(Stage::decode);
    emit_(job);
  }
  if (running_.fetch_sub(1) == 1) done_();
}

}  // namespace imgprep

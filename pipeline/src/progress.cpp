#include "imgprep/pipeline/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace imgprep {
namespace {

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return text;
}

}  // namespace

ProgressReporter::ProgressReporter(const RunStats& stats, bool quiet)
    : stats_(stats), tty_(::isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {
  if (!quiet) thread_ = std::thread([this] { loop(); });
}

ProgressReporter::~ProgressReporter() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ProgressReporter::loop() {
  const auto period = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stopping_; })) report(false);
  if (tty_) report(true);
}

void ProgressReporter::report(bool final) {
  const int64_t done = stats_.done.load(), total = stats_.total;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0;
  const std::string eta = rate > 0 ? clock_text((total - done) / rate) : "--:--:--";
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
    std::fprintf(stderr, "\r[%s%s] %lld/%lld  %.0f images/s  ETA %s  ",
                 std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                 static_cast<long long>(done), static_cast<long long>(total), rate, eta.c_str());
    if (final) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "imgprep: %lld/%lld images, %.0f images/s, ETA %s\n",
                 static_cast<long long>(done), static_cast<long long>(total), rate, eta.c_str());
  }
  std::fflush(stderr);
}

}  // namespace imgprep

#include "progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace imgprep {
namespace {

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return text;
}

// The terminal's width: stderr's window size, else $COLUMNS, else 80. Read at every redraw, so
// a resized window gets a bar that fits.
int terminal_columns() {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS"); columns && std::atoi(columns) > 0)
    return std::atoi(columns);
  return 80;
}

// Redraws the terminal's current line with text, padded to erase what was there before; one
// column is left free, as some terminals wrap on writing into the last one.
void redraw(std::string text, int columns) {
  const size_t width = columns > 1 ? static_cast<size_t>(columns - 1) : 0;
  text.resize(width, ' ');
  std::fprintf(stderr, "\r%s", text.c_str());
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
  report(true);
}

void ProgressReporter::report(bool final) {
  const int64_t done = stats_.done.load(), failed = stats_.failed.load(), total = stats_.total;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0;
  const std::string eta = rate > 0 ? clock_text((total - done) / rate) : "--:--:--";
  char counts[96];
  std::snprintf(counts, sizeof counts, "%lld/%lld images, %lld failed",
                static_cast<long long>(done), static_cast<long long>(total),
                static_cast<long long>(failed));
  char line[256];
  if (final) {
    // The totals of the run as it ended, whether it completed, stopped or was interrupted.
    std::snprintf(line, sizeof line, "imgprep: %s in %s (%.0f images/s)", counts,
                  clock_text(elapsed).c_str(), rate);
    if (tty_) redraw("", terminal_columns());
    std::fprintf(stderr, "%s%s\n", tty_ ? "\r" : "", line);
  } else if (tty_) {
    std::snprintf(line, sizeof line, " %s  %.0f images/s  %s elapsed  ETA %s", counts, rate,
                  clock_text(elapsed).c_str(), eta.c_str());
    // The bar takes the columns the numbers leave, and is left out when fewer than 10 are left.
    const int columns = terminal_columns();
    std::string text = line;
    const int bar = columns - 1 - 2 - static_cast<int>(text.size());
    if (bar >= 10) {
      const int64_t filled = total > 0 ? std::clamp<int64_t>(bar * done / total, 0, bar) : bar;
      std::string drawn(static_cast<size_t>(bar) + 2, '.');
      drawn.front() = '[';
      drawn.back() = ']';
      std::fill_n(drawn.begin() + 1, filled, '#');
      text = drawn + text;
    }
    redraw(text, columns);
  } else {
    std::fprintf(stderr, "imgprep: %s, %.0f images/s, %s elapsed, ETA %s\n", counts, rate,
                 clock_text(elapsed).c_str(), eta.c_str());
  }
  std::fflush(stderr);
}

}  // namespace imgprep

// Ctrl-C and SIGTERM during a run: the first one stops it cleanly (what is complete is kept
// and --resume continues it); a second Ctrl-C exits at once. Also ignores SIGXFSZ, so a file
// size limit shows as a write error instead of killing the process. One guard at a time.
#pragma once

#include <atomic>
#include <csignal>

namespace imgprep {

class InterruptGuard {
 public:
  explicit InterruptGuard(std::atomic<bool>& stop);  // sets stop on the first signal
  ~InterruptGuard();                                  // restores the previous handlers
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  int signal() const;  // 0, SIGINT or SIGTERM

 private:
  struct sigaction old_int_{}, old_term_{}, old_xfsz_{};
};

}  // namespace imgprep

// Ctrl-C and SIGTERM during a run: the first one stops it cleanly (what is complete is kept
// and --resume continues it); a second Ctrl-C exits at once. Also ignores SIGXFSZ, so a file
// size limit shows as a write error instead of killing the process. One guard at a time.
#pragma once

#include <csignal>

#include "imgprep/imgprep.h"

namespace imgprep {

class InterruptGuard {
 public:
  explicit InterruptGuard(JobStop& stop);  // requests stop with the first signal
  ~InterruptGuard();                       // restores the previous handlers
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction old_int_{}, old_term_{}, old_xfsz_{};
};

}  // namespace imgprep

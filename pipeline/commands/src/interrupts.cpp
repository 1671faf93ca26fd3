#include "interrupts.h"

#include <unistd.h>

namespace imgprep {
namespace {

std::atomic<JobStop*> g_stop{nullptr};
volatile std::sig_atomic_t g_signal = 0;

void on_signal(int sig) {
  if (sig == SIGINT && g_signal == SIGINT) _exit(128 + SIGINT);  // everything on disk is whole
  if (g_signal == 0) g_signal = sig;
  if (JobStop* stop = g_stop.load()) stop->request(sig);
}

}  // namespace

InterruptGuard::InterruptGuard(JobStop& stop) {
  g_signal = 0;
  g_stop = &stop;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &old_int_);
  sigaction(SIGTERM, &action, &old_term_);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGXFSZ, &ignore, &old_xfsz_);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGXFSZ, &old_xfsz_, nullptr);
  g_stop = nullptr;
}

}  // namespace imgprep

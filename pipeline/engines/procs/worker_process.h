// One worker process of the procs engine, seen from the engine: started by posix_spawn of
// the worker executable (set_worker_executable; /proc/self/exe by default) with the hidden worker
// argument (never a fork of the multithreaded engine), in
// a process group of its own so that a Ctrl-C reaches only the engine, which decides what to
// stop. It inherits only its end of the control socket. Used by one thread.
#pragma once

#include <sys/types.h>

#include <string>

namespace imgprep {

class WorkerProcess {
 public:
  WorkerProcess();   // starts it; throws WorkerError
  ~WorkerProcess();  // kills and reaps it, unless already reaped
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  int fd() const { return fd_; }  // the engine's end of the control socket

  // Kills (SIGKILL) and reaps it; returns how it ended, for a failed row: "worker crashed:
  // signal 11 (SIGSEGV)", "worker exited with status 1". Killing a process that has already
  // exited does not change how it ended.
  std::string kill_and_reap();
  // Closes the socket, which tells an idle worker to exit, and reaps it.
  void close_and_reap();

 private:
  std::string reap();

  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace imgprep

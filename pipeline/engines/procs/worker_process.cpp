#include "worker_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "imgprep/engines/procs_engine.h"
#include "worker_protocol.h"

extern char** environ;

namespace imgprep {
namespace {

std::mutex g_executable_mutex;
std::string g_executable = "/proc/self/exe";

std::string worker_executable() {
  std::lock_guard lock(g_executable_mutex);
  return g_executable;
}

// posix_spawn's settings, freed however the spawn goes.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup(int child_fd) {
    posix_spawn_file_actions_init(&actions);
    // dup2 clears close-on-exec, also when child_fd already is kControlFd (glibc 2.29+).
    posix_spawn_file_actions_adddup2(&actions, child_fd, kControlFd);
    posix_spawnattr_init(&attr);
    // The engine's signal mask and handlers (SIGXFSZ ignored, say) are not the worker's.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  }
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
};

}  // namespace

void set_worker_executable(const std::filesystem::path& executable) {
  std::lock_guard lock(g_executable_mutex);
  g_executable = executable.string();
}

WorkerProcess::WorkerProcess() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    throw WorkerError(std::string("cannot create a worker socket: ") + std::strerror(errno));
  fd_ = fds[0];
  const std::string parent = std::to_string(::getpid());
  char* argv[] = {const_cast<char*>("imgprep"), const_cast<char*>(kWorkerArgument),
                  const_cast<char*>(parent.c_str()), nullptr};
  int error;
  {
    SpawnSetup setup(fds[1]);
    const std::string executable = worker_executable();
    error = ::posix_spawn(&pid_, executable.c_str(), &setup.actions, &setup.attr, argv, environ);
  }
  ::close(fds[1]);
  if (error != 0) {
    ::close(fd_);
    throw WorkerError(std::string("cannot start a worker process: ") + std::strerror(error));
  }
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) kill_and_reap();
}

std::string WorkerProcess::kill_and_reap() {
  ::kill(pid_, SIGKILL);
  return reap();
}

void WorkerProcess::close_and_reap() { reap(); }  // reap() closes the socket first

std::string WorkerProcess::reap() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid_, &status, 0);
  } while (got < 0 && errno == EINTR);
  pid_ = -1;
  if (got < 0) return "worker ended (its exit status is unknown)";
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    return "worker crashed: signal " + std::to_string(sig) +
           (name ? std::string(" (SIG") + name + ")" : std::string());
  }
  return "worker exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace imgprep

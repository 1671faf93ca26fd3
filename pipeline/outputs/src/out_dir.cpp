#include "imgprep/outputs/out_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "imgprep/outputs/fd_io.h"
#include "imgprep/outputs/atomic_file.h"
#include "imgprep/core/options.h"

namespace imgprep {
namespace fs = std::filesystem;
namespace {

// Absolute, symlinks resolved as far as the path exists, without a trailing separator.
fs::path resolved(const fs::path& path) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  fs::path p = fs::weakly_canonical(absolute, ec);
  if (ec) p = absolute.lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

// path is folder or below it (both resolved).
bool within(const fs::path& path, const fs::path& folder) {
  const fs::path rel = path.lexically_relative(folder);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

void check_out_apart_from_input(const fs::path& out, const fs::path& input) {
  const fs::path o = resolved(out), i = resolved(input);
  if (o == i)
    throw UsageError("OUT is INPUT (" + i.string() +
                     "): the outputs would replace the inputs; choose another OUT");
  if (within(i, o))
    throw UsageError("INPUT " + i.string() + " is inside OUT " + o.string() +
                     ": imgprep would read and replace its own outputs; choose another OUT");
}

OutLock::OutLock(const fs::path& out) : path_(out / kName) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw OutputError("OUT exists and is not a folder: " + out.string());
  fs::create_directories(out, ec);
  if (ec) throw OutputError("cannot create OUT " + out.string() + ": " + ec.message());
  for (;;) {
    // O_NOFOLLOW: a symlink planted at the lock's name is refused, never written through.
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw OutputError("cannot lock OUT: " + path_.string() + ": " + std::strerror(errno), errno);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      char holder[32] = {};
      const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
      ::close(fd_);
      fd_ = -1;
      if (error != EWOULDBLOCK)
        throw OutputError("cannot lock OUT: " + path_.string() + ": " + std::strerror(error));
      const std::string pid = n > 0 ? std::string(holder, std::strcspn(holder, "\n")) : "";
      throw OutputError("OUT " + out.string() + " is in use by another imgprep run" +
                        (pid.empty() ? "" : " (pid " + pid + ")") +
                        "; one run at a time may write into an OUT");
    }
    // The run that held the lock removes the file as it ends: a lock taken on a file no
    // longer under the name locks nothing, so the name is opened again.
    struct stat held, named;
    if (::fstat(fd_, &held) == 0 && ::lstat(path_.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino)
      break;
    ::close(fd_);
  }
  // Only for the message of a run refused while this one holds the lock: not writing it
  // costs nothing else.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) write_all(fd_, pid.data(), pid.size(), 0);
}

OutLock::~OutLock() {
  ::unlink(path_.c_str());
  ::close(fd_);
}

InsideOut::InsideOut(const fs::path& out) : out_(resolved(out)) {}

bool InsideOut::holds(const fs::path& file) {
  const auto [it, added] = folders_.try_emplace(file.parent_path().string(), false);
  if (added) it->second = within(resolved(it->first.empty() ? "." : it->first), out_);
  return it->second;
}

}  // namespace imgprep

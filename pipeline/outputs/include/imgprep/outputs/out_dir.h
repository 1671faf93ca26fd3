// OUT, the folder a run writes: kept apart from the inputs (imgprep never writes over what it
// reads, nor reads what it writes) and held by one run at a time.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace imgprep {

// Refuses (UsageError) an OUT that is INPUT or holds it, comparing the paths with symlinks
// resolved, whether OUT exists yet or not. An OUT inside INPUT is allowed: the folder walk
// leaves it out.
void check_out_apart_from_input(const std::filesystem::path& out,
                                const std::filesystem::path& input);

// Creates OUT when missing and holds an exclusive lock on it (flock of OUT/.imgprep.lock) until
// destroyed: a second run, or a --resume, into a busy OUT is refused at once (OutputError
// naming the holder's pid). The kernel drops the lock when its process dies, however it dies,
// so a lock file a killed run left behind does not block the next run.
class OutLock {
 public:
  static constexpr const char* kName = ".imgprep.lock";

  explicit OutLock(const std::filesystem::path& out);
  ~OutLock();  // removes the lock file, then unlocks
  OutLock(const OutLock&) = delete;
  OutLock& operator=(const OutLock&) = delete;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// Which files lie in OUT: those whose folder is OUT or below it, symlinks resolved. Answers are
// kept per folder, so a run asks the file system once per input folder.
class InsideOut {
 public:
  explicit InsideOut(const std::filesystem::path& out);
  bool holds(const std::filesystem::path& file);

 private:
  std::filesystem::path out_;  // resolved
  std::map<std::string, bool> folders_;
};

}  // namespace imgprep

#include "imgprep/pipeline/run_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "imgprep/pipeline/atomic_file.h"
#include "imgprep/pipeline/json_text.h"
#include "fd_io.h"

namespace imgprep {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw OutputError(what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

RunJournal::RunJournal(const std::filesystem::path& out_dir, bool resume)
    : path_(out_dir / "journal.jsonl") {
  uint64_t valid_bytes = 0;
  if (resume) {
    std::ifstream in(path_, std::ios::binary);
    std::string line;
    // Only whole lines count: a line cut short by a crash ends the journal.
    while (std::getline(in, line) && !in.eof()) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("shards") || !j.contains("rows")) break;
      state_.shards = j["shards"].get<int>();
      state_.next_input = j["next_input"].get<uint64_t>();
      state_.failed = j["failed"].get<int64_t>();
      for (const auto& row : j["rows"]) state_.manifest_rows.push_back(row.get<std::string>());
      valid_bytes += line.size() + 1;
    }
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open", path_);
  if (::ftruncate(fd_, static_cast<off_t>(valid_bytes)) != 0 ||
      ::lseek(fd_, 0, SEEK_END) < 0)
    fail("cannot prepare", path_);
}

RunJournal::~RunJournal() {
  if (fd_ >= 0) ::close(fd_);
}

void RunJournal::record(int shards, uint64_t next_input, int64_t failed,
                        const std::vector<std::string>& rows) {
  const std::string line = json_text(nlohmann::json{{"shards", shards},
                                                     {"next_input", next_input},
                                                     {"failed", failed},
                                                     {"rows", rows}}) +
                           "\n";
  if (!write_all(fd_, line.data(), line.size())) fail("cannot write", path_);
  if (::fsync(fd_) != 0) fail("cannot sync", path_);
  state_.shards = shards;
  state_.next_input = next_input;
  state_.failed = failed;
}

void RunJournal::remove() {
  ::close(fd_);
  fd_ = -1;
  std::filesystem::remove(path_);
}

}  // namespace imgprep

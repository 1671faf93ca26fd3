#include "imgprep/outputs/run_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "imgprep/outputs/atomic_file.h"
#include "imgprep/core/json_text.h"
#include "imgprep/outputs/fd_io.h"

namespace imgprep {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw OutputError(what + " " + path.string() + ": " + std::strerror(errno));
}

// A whole line that cannot be trusted: the shards and manifest rows it vouches for are not
// used, and nothing in OUT is touched.
struct BadLine {
  std::string what;
};

// The integer `key` of a journal line, within [low, high].
int64_t integer(const nlohmann::json& line, const char* key, int64_t low, int64_t high) {
  const auto it = line.find(key);
  if (it == line.end()) throw BadLine{std::string("no \"") + key + "\""};
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX))
    throw BadLine{std::string("\"") + key + "\" is " + json_text(*it) + ", not an integer"};
  const int64_t value = it->get<int64_t>();
  if (value < low || value > high)
    throw BadLine{std::string("\"") + key + "\" is " + std::to_string(value) + ", not within " +
                  std::to_string(low) + ".." + std::to_string(high)};
  return value;
}

}  // namespace

RunJournal::RunJournal(const std::filesystem::path& out_dir, bool resume,
                       const JournalBounds& bounds)
    : path_(out_dir / "journal.jsonl") {
  uint64_t valid_bytes = 0;
  if (resume) {
    std::ifstream in(path_, std::ios::binary);
    std::string line;
    // Only whole lines count: a line cut short by a crash ends the journal.
    for (int number = 1; std::getline(in, line) && !in.eof(); ++number) {
      try {
        load_line(line, number, bounds);
      } catch (const BadLine& bad) {
        throw OutputError(path_.string() + " line " + std::to_string(number) + ": " + bad.what +
                          "; run without --resume to start over");
      }
      valid_bytes += line.size() + 1;
    }
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open", path_);
  if (::ftruncate(fd_, static_cast<off_t>(valid_bytes)) != 0 ||
      ::lseek(fd_, 0, SEEK_END) < 0)
    fail("cannot prepare", path_);
}

void RunJournal::load_line(const std::string& text, int number, const JournalBounds& bounds) {
  const nlohmann::json line = nlohmann::json::parse(text, nullptr, false);
  if (!line.is_object()) throw BadLine{"not a JSON object"};
  // Each line completes the next shard, so line N says N shards.
  const int64_t shards = integer(line, "shards", number, number);
  const int64_t next_input = integer(line, "next_input", state_.next_input + 1,
                                     static_cast<int64_t>(bounds.inputs));
  const int64_t failed = integer(line, "failed", state_.failed, next_input);
  const auto rows = line.find("rows");
  if (rows == line.end() || !rows->is_array()) throw BadLine{"no \"rows\" list"};
  // The rows are exactly the inputs since the line before: the shard's rows and the failures.
  const int64_t covered = next_input - static_cast<int64_t>(state_.next_input);
  if (rows->size() != static_cast<uint64_t>(covered))
    throw BadLine{std::to_string(rows->size()) + " rows for the " + std::to_string(covered) +
                  " inputs it covers"};
  const int64_t images = covered - (failed - state_.failed);
  if (images != bounds.shard_size)
    throw BadLine{"its " + std::to_string(images) + " images do not fill one shard of " +
                  std::to_string(bounds.shard_size)};
  for (const auto& row : *rows)
    if (!row.is_string() || !nlohmann::json::accept(row.get_ref<const std::string&>()))
      throw BadLine{"a row is not a manifest line"};
  if (bounds.tar_shards) {
    // A tar is whole 512-byte blocks: at least a member's header and the two end blocks.
    const int64_t bytes = integer(line, "bytes", 3 * 512, INT64_MAX);
    if (bytes % 512 != 0)
      throw BadLine{"\"bytes\" is " + std::to_string(bytes) + ", not a multiple of 512"};
    state_.shard_bytes.push_back(static_cast<uint64_t>(bytes));
  }
  for (const auto& row : *rows) state_.manifest_rows.push_back(row.get<std::string>());
  state_.shards = static_cast<int>(shards);
  state_.next_input = static_cast<uint64_t>(next_input);
  state_.failed = failed;
}

RunJournal::~RunJournal() {
  if (fd_ >= 0) ::close(fd_);
}

void RunJournal::record(int shards, uint64_t next_input, int64_t failed,
                        const std::vector<std::string>& rows, uint64_t shard_bytes) {
  nlohmann::json fields{
      {"shards", shards}, {"next_input", next_input}, {"failed", failed}, {"rows", rows}};
  if (shard_bytes > 0) fields["bytes"] = shard_bytes;
  const std::string line = json_text(fields) + "\n";
  if (!write_all(fd_, line.data(), line.size())) fail("cannot write", path_);
  if (::fsync(fd_) != 0) fail("cannot sync", path_);
  state_.shards = shards;
  state_.next_input = next_input;
  state_.failed = failed;
  if (shard_bytes > 0) state_.shard_bytes.push_back(shard_bytes);
}

void RunJournal::remove() {
  ::close(fd_);
  fd_ = -1;
  std::filesystem::remove(path_);
}

}  // namespace imgprep

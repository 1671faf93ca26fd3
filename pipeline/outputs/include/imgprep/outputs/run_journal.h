// OUT/journal.jsonl: one line per completed shard, written only once the shard is durable and
// fsync'd itself, holding that shard's manifest rows and where the inputs continue. A run
// interrupted in any way (Ctrl-C, SIGKILL, power loss) resumes after its last recorded shard.
// Line N records shard N - 1: each line completes exactly one shard of shard_size rows. A tar
// shard's line also holds its size in bytes ("bytes"), which nothing else fixes.
// One writer; not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace imgprep {

struct JournalState {
  int shards = 0;               // shards 0 .. shards-1 are complete
  uint64_t next_input = 0;      // index of the first input after them
  int64_t failed = 0;           // failed rows among the inputs before next_input
  std::vector<std::string> manifest_rows;  // manifest lines of the inputs before next_input
  std::vector<uint64_t> shard_bytes;       // tar shards: the size of each complete shard
};

// What the journal of a run with these inputs and settings can hold.
struct JournalBounds {
  uint64_t inputs = 0;
  int shard_size = 1;
  bool tar_shards = false;  // each line holds "bytes", its shard's size
};

class RunJournal {
 public:
  // resume: continue the journal in out_dir (its whole lines are loaded, a torn last line is
  // cut off); otherwise start an empty one. A whole line that is malformed or does not follow
  // from the lines before it within bounds throws OutputError ("OUT/journal.jsonl line N: ...").
  RunJournal(const std::filesystem::path& out_dir, bool resume, const JournalBounds& bounds);
  ~RunJournal();
  RunJournal(const RunJournal&) = delete;
  RunJournal& operator=(const RunJournal&) = delete;

  const JournalState& state() const { return state_; }
  // Appends (and fsyncs) a line: shards complete up to `shards`, inputs up to next_input;
  // shard_bytes: the completed shard's size, recorded for tar shards (0: none).
  void record(int shards, uint64_t next_input, int64_t failed,
              const std::vector<std::string>& rows, uint64_t shard_bytes = 0);
  // The run is complete: the journal goes.
  void remove();

 private:
  // Checks line `number` against the state the lines before it left, then applies it.
  void load_line(const std::string& line, int number, const JournalBounds& bounds);

  std::filesystem::path path_;
  int fd_ = -1;
  JournalState state_;
};

}  // namespace imgprep

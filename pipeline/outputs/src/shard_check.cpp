#include "shard_check.h"

namespace imgprep {

std::string size_problem(const std::filesystem::path& path, uint64_t bytes) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::symlink_status(path, ec);
  if (!std::filesystem::exists(status)) return "is missing";
  if (!std::filesystem::is_regular_file(status)) return "is not a regular file";
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return "cannot be read: " + ec.message();
  if (size != bytes) return "is " + std::to_string(size) + " bytes, not " + std::to_string(bytes);
  return {};
}

OutputError journalled_shard_error(const std::filesystem::path& dir, int index,
                                   const std::string& problem) {
  return OutputError((dir / "journal.jsonl").string() + " line " + std::to_string(index + 1) +
                     ": its " + problem + "; run without --resume to start over");
}

}  // namespace imgprep

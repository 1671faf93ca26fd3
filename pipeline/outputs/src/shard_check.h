// --resume's check of the shards the journal vouches for, shared by the npy and tar shard writers.
// Private to outputs/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "imgprep/outputs/atomic_file.h"

namespace imgprep {

// Why path is not a regular file of exactly `bytes` bytes ("is missing", "is 10 bytes, not 12");
// empty if it is.
std::string size_problem(const std::filesystem::path& path, uint64_t bytes);

// The error for a shard file of dir that journal line index + 1 vouches for; `problem` names
// the file ("shard-00003.tar is missing").
OutputError journalled_shard_error(const std::filesystem::path& dir, int index,
                                   const std::string& problem);

}  // namespace imgprep

// AtomicFile: nothing under the final name until commit, nothing left behind without one, and
// direct I/O (where the file system has it) that falls back to the page cache for a write it
// refuses. Files are read back with std::ifstream.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "imgprep/pipeline/atomic_file.h"
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;
using test::read_bytes;
using test::TempDir;

TEST(AtomicFile, AppearsUnderItsNameOnlyWhenCommitted) {
  TempDir dir;
  const fs::path target = dir / "out.bin";
  AtomicFile file(target);
  file.write("hello ", 6);
  file.write_at("world", 5, 6);
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(fs::exists(dir / "out.bin.part"));
  file.commit();
  EXPECT_FALSE(fs::exists(dir / "out.bin.part"));
  const std::vector<uint8_t> bytes = read_bytes(target);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "hello world");
}

TEST(AtomicFile, LeavesNothingWithoutCommit) {
  TempDir dir;
  {
    AtomicFile file(dir / "out.bin");
    file.write("partial", 7);
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(AtomicFile, DirectWritesFallBackToThePageCacheWhenRefused) {
  TempDir dir;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  constexpr size_t kBlock = AtomicFile::kDirectAlign;
  std::unique_ptr<char, Free> block(static_cast<char*>(std::aligned_alloc(kBlock, 2 * kBlock)));
  ASSERT_TRUE(block);
  for (size_t i = 0; i < 2 * kBlock; ++i) block.get()[i] = static_cast<char>(i * 7 + 3);

  AtomicFile file(dir / "out.bin", AtomicFile::Caching::direct_if_possible);
  const bool direct = file.direct();
  std::printf("[ summary  ] direct I/O on %s: %s\n", dir.path().c_str(), direct ? "yes" : "no");
  file.write_at(block.get(), 2 * kBlock, 0);  // whole aligned blocks: direct where possible
  EXPECT_EQ(file.direct(), direct);
  // Unaligned memory, size and offset: direct I/O refuses it (EINVAL); the file goes on
  // through the page cache.
  file.write_at(block.get() + 1, 100, 2 * kBlock + 3);
  EXPECT_FALSE(file.direct());
  file.write_at("tai", 3, 2 * kBlock);
  file.commit();

  const std::vector<uint8_t> bytes = read_bytes(dir / "out.bin");
  ASSERT_EQ(bytes.size(), 2 * kBlock + 103);
  EXPECT_EQ(std::memcmp(bytes.data(), block.get(), 2 * kBlock), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 2 * kBlock, "tai", 3), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 2 * kBlock + 3, block.get() + 1, 100), 0);
}

}  // namespace
}  // namespace imgprep

// The ustar headers and tar shards of tar_writer.h, checked against the format's specification
// (POSIX.1-1988 ustar) field by field, independently of tar_writer.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tar_writer.h"  // private to outputs/
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;
using test::read_bytes;
using test::TempDir;

// The octal number of a header field (digits up to the first NUL or space).
uint64_t octal_field(const std::string& header, size_t offset, size_t width) {
  return std::strtoull(header.substr(offset, width).c_str(), nullptr, 8);
}

TEST(TarHeader, FieldsAndChecksumFollowUstar) {
  const std::string h = tar_header("000000012.npy", 150656);
  ASSERT_EQ(h.size(), 512u);
  EXPECT_EQ(h.substr(0, 14), std::string("000000012.npy\0", 14));
  EXPECT_EQ(h.substr(100, 8), std::string("0000644\0", 8));
  EXPECT_EQ(h.substr(108, 8), std::string("0000000\0", 8));  // uid
  EXPECT_EQ(h.substr(116, 8), std::string("0000000\0", 8));  // gid
  EXPECT_EQ(h.substr(124, 12), std::string("00000446200\0", 12));  // 150656 in octal
  EXPECT_EQ(octal_field(h, 124, 12), 150656u);
  EXPECT_EQ(octal_field(h, 136, 12), 0u);  // mtime
  EXPECT_EQ(h[156], '0');                  // a regular file
  EXPECT_EQ(h.substr(257, 8), std::string("ustar\0" "00", 8));
  EXPECT_EQ(h.substr(265, 64), std::string(64, '\0'));  // no user or group name
  // The checksum: the sum of the header's bytes with its own field taken as eight spaces,
  // written as six octal digits, a NUL and a space.
  uint64_t sum = 0;
  for (size_t i = 0; i < 512; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  EXPECT_EQ(octal_field(h, 148, 8), sum);
  EXPECT_EQ(h[154], '\0');
  EXPECT_EQ(h[155], ' ');
}

TEST(TarHeader, RefusesWhatUstarCannotHold) {
  EXPECT_THROW(tar_header(std::string(101, 'a'), 1), std::length_error);
  EXPECT_NO_THROW(tar_header(std::string(100, 'a'), 1));
  EXPECT_THROW(tar_header("a", uint64_t{1} << 33), std::length_error);
  EXPECT_EQ(tar_member_bytes(0), 512u);
  EXPECT_EQ(tar_member_bytes(1), 1024u);
  EXPECT_EQ(tar_member_bytes(512), 1024u);
  EXPECT_EQ(tar_member_bytes(513), 1536u);
}

TEST(TarShardWriter, ShardsHoldPaddedMembersAndEndBlocks) {
  const TempDir dir;
  TarShardWriter tars(dir.path(), 2, 0, {});
  const std::string body(700, 'x');
  uint64_t sizes[2] = {};
  for (int i = 0; i < 3; ++i) {
    const TarShardWriter::Location at =
        tars.append({{"k" + std::to_string(i) + ".npy", "head", body}, {"k.cls", {}, "7"}});
    EXPECT_EQ(at.shard, i / 2);
    EXPECT_EQ(at.completed_shard, i == 1);
    if (at.completed_shard) sizes[0] = at.shard_bytes;
  }
  tars.finish();
  EXPECT_EQ(tars.shards_written(), 2);
  sizes[1] = fs::file_size(dir.path() / "shard-00001.tar");
  // Per sample: a header and 704 bytes padded to 1024, a header and "7" padded to 512.
  EXPECT_EQ(sizes[0], 2 * (512 + 1024 + 512 + 512) + 1024u);
  EXPECT_EQ(sizes[1], 1 * (512 + 1024 + 512 + 512) + 1024u);
  const std::vector<uint8_t> bytes = read_bytes(dir.path() / "shard-00000.tar");
  ASSERT_EQ(bytes.size(), sizes[0]);
  const std::string tar(bytes.begin(), bytes.end());
  EXPECT_EQ(tar.substr(0, 7), std::string("k0.npy\0", 7));
  EXPECT_EQ(octal_field(tar, 124, 12), 704u);
  EXPECT_EQ(tar.substr(512, 8), "headxxxx");
  EXPECT_EQ(tar.substr(512 + 704, 320), std::string(320, '\0'));
  EXPECT_EQ(tar.substr(1536, 6), std::string("k.cls\0", 6));
  EXPECT_EQ(tar[2048], '7');
  EXPECT_EQ(tar.substr(tar.size() - 1024), std::string(1024, '\0'));
  EXPECT_EQ(tar_problem(dir.path() / "shard-00000.tar", sizes[0]), "");
  EXPECT_EQ(tar_problem(dir.path() / "shard-00000.tar", sizes[0] + 512),
            "is " + std::to_string(sizes[0]) + " bytes, not " + std::to_string(sizes[0] + 512));
  EXPECT_EQ(tar_problem(dir.path() / "shard-00009.tar", 1536), "is missing");
}

TEST(TarShardWriter, ResumingChecksTheJournalledShards) {
  const TempDir dir;
  uint64_t bytes = 0;
  {
    TarShardWriter tars(dir.path(), 1, 0, {});
    bytes = tars.append({{"a.cls", {}, "1"}}).shard_bytes;
  }
  EXPECT_NO_THROW(TarShardWriter(dir.path(), 1, 1, {bytes}));
  EXPECT_THROW(TarShardWriter(dir.path(), 1, 1, {bytes + 512}), OutputError);
  // The same size, but no longer ending as a tar ends.
  const fs::path tar = dir.path() / "shard-00000.tar";
  std::vector<uint8_t> data = read_bytes(tar);
  data.back() = 1;
  test::write_bytes(tar, data.data(), data.size());
  try {
    TarShardWriter(dir.path(), 1, 1, {bytes});
    FAIL() << "accepted a damaged tar";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 1: its shard-00000.tar does not end as a tar ends"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace imgprep

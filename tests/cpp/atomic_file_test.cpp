// AtomicFile: nothing under the final name until commit, nothing left behind without one, no
// write through a symlink it did not make, a temporary name that fits whenever the name does,
// and direct I/O (where the file system has it) that falls back to the page cache for a write it
// refuses. Folder: subfolders entered without following symlinks. Files are read back with
// std::ifstream.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "imgprep/outputs/atomic_file.h"
#include "imgprep/outputs/manifest.h"
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;
using test::read_bytes;
using test::TempDir;
using test::write_text;

std::string text_of(const fs::path& path) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  return {bytes.begin(), bytes.end()};
}

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

// A killed run's temporary file, or a symlink planted at the temporary or the final name, is
// replaced: the file a link leads to keeps its bytes.
TEST(AtomicFile, NeverWritesThroughASymlink) {
  TempDir dir, elsewhere;
  for (const std::string name : {"meta.json.part", "meta.json"}) {
    write_text(elsewhere / name, "not ours");
    fs::create_symlink(elsewhere / name, dir / name);
  }
  write_text(dir / "shard.npy.part", "left by a killed run");
  AtomicFile::write_file(dir / "meta.json", "{}");
  {
    AtomicFile shard(dir / "shard.npy", AtomicFile::Caching::direct_if_possible);
    shard.write_at("npy", 3, 0);
    shard.commit();
  }
  EXPECT_EQ(text_of(elsewhere / "meta.json.part"), "not ours");
  EXPECT_EQ(text_of(elsewhere / "meta.json"), "not ours");
  EXPECT_FALSE(fs::is_symlink(dir / "meta.json"));
  EXPECT_EQ(text_of(dir / "meta.json"), "{}");
  EXPECT_EQ(text_of(dir / "shard.npy"), "npy");
  EXPECT_FALSE(fs::exists(dir / "meta.json.part"));
  EXPECT_FALSE(fs::exists(dir / "shard.npy.part"));
}

// Names up to the longest a file name may be (255 bytes here) are written, however near the
// limit; a longer one is an error about its name, and leaves nothing behind.
TEST(AtomicFile, TemporaryNamesFitWheneverTheNameFits) {
  TempDir dir;
  for (size_t size : {1, 200, 250, 251, 254, 255}) {
    const std::string name(size, 'n');
    EXPECT_LE(AtomicFile::temp_name(name).size(), 255u) << size;
    AtomicFile::write_file(dir / name, name, false);
    EXPECT_EQ(text_of(dir / name), name) << size;
  }
  // Long names that differ only near their end get different temporary names.
  EXPECT_NE(AtomicFile::temp_name(std::string(254, 'n') + "a"),
            AtomicFile::temp_name(std::string(254, 'n') + "b"));
  try {
    AtomicFile::write_file(dir / std::string(256, 'n'), "x");
    FAIL() << "a 256-byte name was written";
  } catch (const OutputError& e) {
    EXPECT_TRUE(e.about_the_name()) << e.what();
  }
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 6u);
}

TEST(Folder, EntersSubfoldersButNeverASymlink) {
  TempDir dir, elsewhere;
  const Folder out(dir.path());
  AtomicFile::write_file(dir / "file", "");
  fs::create_directory_symlink(elsewhere.path(), dir / "link");
  {
    AtomicFile file(out.sub("a").sub("b"), "x.png");
    file.write("png", 3);
    file.commit(false);
  }
  EXPECT_EQ(text_of(dir / "a/b/x.png"), "png");
  for (const std::string name : {"link", "file"}) {
    try {
      out.sub(name);
      FAIL() << name << " was entered";
    } catch (const OutputError& e) {
      EXPECT_TRUE(e.about_the_name()) << e.what();
      if (name == "link") {
        EXPECT_NE(std::string(e.what()).find("symbolic link"), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_TRUE(fs::is_empty(elsewhere.path()));
}

// A write that fails part-way (here: past RLIMIT_FSIZE, as on a full disk) leaves the manifest
// able to finish once there is room: every row once, in order.
TEST(ManifestWriter, FinishesAfterAFailedWrite) {
  TempDir dir;
  ManifestWriter manifest(dir.path());
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto handler = std::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead
  rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string expected;
  int failures = 0;
  for (int i = 0; i < 3000; ++i) {
    ManifestRow row;
    row.path = "class/image-" + std::to_string(i) + ".jpg";
    row.ok = true;
    manifest.add(row);
    expected += "{\"path\":\"" + row.path + "\",\"status\":\"ok\",\"label\":null}\n";
    try {
      manifest.commit_pending();
    } catch (const OutputError&) {
      ++failures;
    }
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, handler);
  EXPECT_GT(failures, 0);
  manifest.finish();
  EXPECT_EQ(text_of(dir / "manifest.jsonl"), expected);
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

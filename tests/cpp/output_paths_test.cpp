// image_output_paths: where --format images writes each input. Every input gets a path of its
// own, no file takes a name another output's folder needs, an input with no rival keeps its
// natural path, and the result depends only on the ordered inputs.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "imgprep/outputs/output_sinks.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;

void expect_usable(const std::vector<std::string>& rels, const std::vector<fs::path>& paths) {
  ASSERT_EQ(paths.size(), rels.size());
  std::set<fs::path> files(paths.begin(), paths.end());
  EXPECT_EQ(files.size(), paths.size()) << "two inputs share an output";
  for (const fs::path& path : paths) {
    EXPECT_FALSE(path.empty());
    EXPECT_TRUE(path.is_relative()) << path;
    for (const fs::path& part : path) EXPECT_NE(part, "..") << path;
    for (fs::path folder = path.parent_path(); !folder.empty(); folder = folder.parent_path())
      EXPECT_EQ(files.count(folder), 0u) << folder << " is a file and " << path << "'s folder";
  }
}

TEST(ImageOutputPaths, CollidingNamesEachGetTheirOwn) {
  const std::vector<std::string> rels = {"a.png.jpg", "a.jpg",   "a.png",      "../x/a.jpg",
                                         "x/a.jpg",   "./x/a.jpg", "x/../x/a.png", "a-2.jpg",
                                         "c.jpg",     "c.jpg/d.png"};
  const std::vector<fs::path> paths = image_output_paths(rels, "jpg");
  expect_usable(rels, paths);
  EXPECT_EQ(paths[0], "a.png.jpg");
  EXPECT_EQ(paths[1], "a.jpg");
  EXPECT_EQ(paths[2], "a-2.jpg");  // "a.jpg" and then "a.png.jpg" are taken
  EXPECT_EQ(paths[3], "x/a.jpg");
  EXPECT_EQ(paths[4], "x/a.jpg.jpg");
  EXPECT_EQ(paths[5], "x/a-2.jpg");
  EXPECT_EQ(paths[6], "x/a.png.jpg");
  EXPECT_EQ(paths[7], "a-2.jpg.jpg");  // its natural name went to "a.png"
  EXPECT_EQ(paths[8], "c.jpg.jpg");    // "c.jpg" is a folder
  EXPECT_EQ(paths[9], "c.jpg/d.jpg");
}

// Random lists drawn from few names, so that almost every kind of collision occurs.
TEST(ImageOutputPaths, AnyListGetsDistinctUsablePaths) {
  const std::vector<std::string> parts = {"a", "a.png", "a.jpg", "a-2.png", "a.png.png", "b",
                                          "..", ".", "b.png"};
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> rels;
    const int count = 1 + static_cast<int>(random() % 40);
    for (int i = 0; i < count; ++i) {
      std::string rel;
      for (int depth = static_cast<int>(random() % 3); depth >= 0; --depth)
        rel += (rel.empty() ? "" : "/") + parts[random() % parts.size()];
      rels.push_back(rel);
    }
    const std::vector<fs::path> paths = image_output_paths(rels, "png");
    expect_usable(rels, paths);
    EXPECT_EQ(image_output_paths(rels, "png"), paths);
    if (::testing::Test::HasFailure()) {
      for (size_t i = 0; i < rels.size(); ++i) ADD_FAILURE() << rels[i] << " -> " << paths[i];
      return;
    }
  }
}

}  // namespace
}  // namespace imgprep

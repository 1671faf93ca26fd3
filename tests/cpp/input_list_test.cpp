// list_inputs on folder trees and list files built here: byte-wise order, ImageFolder labels,
// content sniffing, odd directory entries (symlink loops, dangling links, FIFOs), list-file
// syntax, --shard slices, --classes and an INPUT without images; place() with a shrink-only
// --resize. read_file is checked on the odd entries the walk lets through.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "imgprep/datasets/input_list.h"
#include "imgprep/core/options.h"
#include "imgprep/engines/read_pool.h"
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;
using test::TempDir;
using test::write_bytes;
using test::write_text;

std::vector<uint8_t> encoded(const char* ext) {
  const cv::Mat img(4, 5, CV_8UC3, cv::Scalar(10, 20, 30));
  std::vector<uint8_t> bytes;
  cv::imencode(ext, img, bytes);
  return bytes;
}

// Creates the file (and its folders) with real image bytes of the given kind.
void image_file(const fs::path& path, const char* kind = ".jpg") {
  fs::create_directories(path.parent_path());
  const std::vector<uint8_t> bytes = encoded(kind);
  write_bytes(path, bytes.data(), bytes.size());
}

std::vector<std::string> rels(const InputList& list) {
  std::vector<std::string> out;
  for (const InputItem& item : list.items) out.push_back(item.rel);
  return out;
}

const InputItem* find_rel(const InputList& list, const std::string& rel) {
  for (const InputItem& item : list.items)
    if (item.rel == rel) return &item;
  return nullptr;
}

// ---- folders ----

TEST(ListFolder, ByteWiseOrderLabelsAndSniffing) {
  TempDir root;
  const std::vector<std::string> images = {
      "B.jpg", "a.jpg", "a-b.jpg", "a_b.jpg", "\xC3\xA9.jpg",  // é.jpg, UTF-8
      "a/b.jpg", "a/c/d.png", "Z/x.PNG", "Z/y.JPG"};
  for (const std::string& rel : images) image_file(root / rel);
  // Recognised by content: a real PNG without an extension.
  image_file(root / "a" / "noext_png", ".png");
  // Not images: skipped and counted.
  write_text(root / "notes.txt", "notes\n");
  write_text(root / "a" / "data.csv", "1,2\n");
  write_text(root / "noext_text", "plain text, no extension\n");

  const InputList list = list_inputs(root.path());

  // Unsigned bytes: '-' < '.' < '/' < '_', upper case before lower case, UTF-8 last.
  const std::vector<std::string> expected = {
      "B.jpg", "Z/x.PNG", "Z/y.JPG", "a-b.jpg", "a.jpg", "a/b.jpg",
      "a/c/d.png", "a/noext_png", "a_b.jpg", "\xC3\xA9.jpg"};
  std::vector<std::string> sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_EQ(sorted, expected);  // the table above is the byte-wise order
  EXPECT_EQ(rels(list), expected);
  EXPECT_EQ(list.skipped, 3u);
  EXPECT_TRUE(list.walk_errors.empty());

  // Labels: first-level folders that hold images, in byte-wise order; root images unlabelled.
  EXPECT_TRUE(list.has_labels);
  EXPECT_EQ(list.classes, (std::vector<std::string>{"Z", "a"}));
  for (const InputItem& item : list.items) {
    const std::string first = item.rel.substr(0, item.rel.find('/'));
    const int64_t want = item.rel.find('/') == std::string::npos ? kNoLabel
                         : first == "Z"                         ? 0
                                                                : 1;
    EXPECT_EQ(item.label, want) << item.rel;
    EXPECT_EQ(item.path, root.path() / item.rel);
  }
}

TEST(ListFolder, ImageFolderClassIndices) {
  TempDir root;
  image_file(root / "dog" / "d1.jpg");
  image_file(root / "dog" / "puppies" / "p1.jpg");  // deeper folders keep the first-level label
  image_file(root / "cat" / "c1.png", ".png");
  image_file(root / "cat" / "c2.jpg");
  image_file(root / "Bird" / "b1.jpg");
  image_file(root / "root.jpg");

  const InputList list = list_inputs(root.path());
  ASSERT_EQ(list.classes, (std::vector<std::string>{"Bird", "cat", "dog"}));
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"Bird/b1.jpg", 0}, {"cat/c1.png", 1},         {"cat/c2.jpg", 1},
      {"dog/d1.jpg", 2},  {"dog/puppies/p1.jpg", 2}, {"root.jpg", kNoLabel}};
  ASSERT_EQ(list.items.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(list.items[i].rel, expected[i].first);
    EXPECT_EQ(list.items[i].label, expected[i].second) << expected[i].first;
  }
}

TEST(ListFolder, FlatFolderHasNoLabels) {
  TempDir root;
  image_file(root / "1.jpg");
  image_file(root / "2.jpg");
  const InputList list = list_inputs(root.path());
  EXPECT_FALSE(list.has_labels);
  EXPECT_TRUE(list.classes.empty());
  ASSERT_EQ(list.items.size(), 2u);
  EXPECT_EQ(list.items[0].label, kNoLabel);
}

TEST(ListFolder, SymlinkLoopIsReportedNotFollowed) {
  TempDir root;
  image_file(root / "dir" / "img.jpg");
  fs::create_directory_symlink("..", root / "dir" / "link");  // dir/link -> root

  const InputList list = list_inputs(root.path());  // must terminate
  EXPECT_EQ(rels(list), std::vector<std::string>{"dir/img.jpg"});
  ASSERT_FALSE(list.walk_errors.empty());
  EXPECT_NE(list.walk_errors[0].find("loop"), std::string::npos) << list.walk_errors[0];
  EXPECT_NE(list.walk_errors[0].find("link"), std::string::npos) << list.walk_errors[0];
}

TEST(ListFolder, DanglingSymlinkWithImageNameBecomesAnItemThatFailsToRead) {
  TempDir root;
  image_file(root / "ok.jpg");
  fs::create_symlink(root / "missing.jpg", root / "x.jpg");
  fs::create_symlink(root / "missing", root / "y");  // no image name: skipped

  const InputList list = list_inputs(root.path());
  EXPECT_EQ(rels(list), (std::vector<std::string>{"ok.jpg", "x.jpg"}));
  EXPECT_EQ(list.skipped, 1u);
  Bytes bytes;
  EXPECT_NE(read_file(find_rel(list, "x.jpg")->path, bytes), "");
  EXPECT_EQ(read_file(find_rel(list, "ok.jpg")->path, bytes), "");
  EXPECT_FALSE(bytes.empty());
}

TEST(ListFolder, FifoBecomesAnItemThatReadFileRefusesWithoutBlocking) {
  TempDir root;
  const fs::path fifo = root / "pipe.jpg";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((root / "pipe").c_str(), 0600), 0);  // no image name: skipped, not opened

  const InputList list = list_inputs(root.path());
  ASSERT_EQ(rels(list), std::vector<std::string>{"pipe.jpg"});
  EXPECT_EQ(list.skipped, 1u);

  Bytes bytes;
  auto read = std::async(std::launch::async, [&] { return read_file(fifo, bytes); });
  if (read.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Blocked in open() or read(): give it a writer and end-of-file so the test can finish.
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
    FAIL() << "read_file blocked on a FIFO";
  }
  EXPECT_EQ(read.get(), "not a regular file");
}

TEST(ListFolder, MissingInputThrows) {
  TempDir root;
  EXPECT_THROW(list_inputs(root / "nope"), InputError);
}

// ---- list files ----

TEST(ListFile, PlainPathsCommentsAndBlankLines) {
  TempDir root;
  fs::create_directory(root / "lists");
  const fs::path list_path = root / "lists" / "inputs.txt";
  write_text(list_path,
             "# a comment\n"
             "images/b.jpg\n"
             "\n"
             "/abs/where/a.png\n"
             "   spaced.jpg  \n"
             "  # an indented comment\n"
             "a.jpg\n");
  const InputList list = list_inputs(list_path);
  EXPECT_EQ(rels(list), (std::vector<std::string>{"images/b.jpg", "/abs/where/a.png",
                                                  "spaced.jpg", "a.jpg"}));  // listed order
  EXPECT_FALSE(list.has_labels);
  for (const InputItem& item : list.items) EXPECT_EQ(item.label, kNoLabel);
  EXPECT_EQ(list.items[0].path, root.path() / "lists" / "images" / "b.jpg");
  EXPECT_EQ(list.items[1].path, fs::path("/abs/where/a.png"));
}

TEST(ListFile, IntegerLabelsWithHeader) {
  TempDir root;
  write_text(root / "l.csv", "path,label\nb.jpg,3\na.jpg,0\nc.jpg, 12\n");
  const InputList list = list_inputs(root / "l.csv");
  EXPECT_TRUE(list.has_labels);
  EXPECT_TRUE(list.classes.empty());
  EXPECT_EQ(rels(list), (std::vector<std::string>{"b.jpg", "a.jpg", "c.jpg"}));
  ASSERT_EQ(list.items.size(), 3u);
  EXPECT_EQ(list.items[0].label, 3);
  EXPECT_EQ(list.items[1].label, 0);
  EXPECT_EQ(list.items[2].label, 12);
}

TEST(ListFile, ClassNameLabelsNumberedInSortedOrder) {
  TempDir root;
  write_text(root / "l.csv", "x.jpg,dog\ny.jpg,cat\nz.jpg,dog\nw.jpg,Ant\n");
  const InputList list = list_inputs(root / "l.csv");
  EXPECT_TRUE(list.has_labels);
  EXPECT_EQ(list.classes, (std::vector<std::string>{"Ant", "cat", "dog"}));
  const int64_t expected[] = {2, 1, 2, 0};
  ASSERT_EQ(list.items.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(list.items[i].label, expected[i]) << list.items[i].rel;
}

TEST(ListFile, RelativePathsResolveAgainstTheListFolder) {
  TempDir root;
  image_file(root / "imgs" / "a.jpg");
  image_file(root / "sub" / "b.jpg");
  write_text(root / "sub" / "list.txt", "../imgs/a.jpg\nb.jpg\n");
  // Resolved against the list's folder, not the current directory.
  const fs::path cwd = fs::current_path();
  fs::current_path(root.path() / "imgs");
  InputList list;
  EXPECT_NO_THROW(list = list_inputs(root / "sub" / "list.txt"));
  fs::current_path(cwd);
  ASSERT_EQ(list.items.size(), 2u);
  EXPECT_EQ(list.items[0].rel, "../imgs/a.jpg");
  EXPECT_TRUE(fs::equivalent(list.items[0].path, root / "imgs" / "a.jpg"));
  EXPECT_TRUE(fs::equivalent(list.items[1].path, root / "sub" / "b.jpg"));
}

// The message of the InputError list_inputs throws for the list file at path ("" if none).
std::string list_error(const fs::path& path) {
  try {
    list_inputs(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::vector<int64_t> labels(const InputList& list) {
  std::vector<int64_t> out;
  for (const InputItem& item : list.items) out.push_back(item.label);
  return out;
}

TEST(ListFile, ByteOrderMarkAndCrlfAreNotPartOfTheText) {
  TempDir root;
  for (const char* text : {"\xEF\xBB\xBFpath,label\na.jpg,3\nb.jpg,0\n",
                           "\xEF\xBB\xBFpath,label\r\na.jpg,3\r\nb.jpg,0\r\n",
                           "\xEF\xBB\xBF" "a.jpg,3\nb.jpg,0\n"}) {
    write_text(root / "l.csv", text);
    const InputList list = list_inputs(root / "l.csv");
    EXPECT_EQ(rels(list), (std::vector<std::string>{"a.jpg", "b.jpg"})) << text;
    EXPECT_EQ(labels(list), (std::vector<int64_t>{3, 0})) << text;
    EXPECT_TRUE(list.classes.empty()) << text;
    EXPECT_EQ(list.items[0].path, root.path() / "a.jpg");
  }
}

TEST(ListFile, HeaderInAnyCase) {
  TempDir root;
  for (const char* header : {"path,label", "Path,Label", "PATH , LABEL", "\"path\",\"label\""}) {
    write_text(root / "l.csv", std::string(header) + "\na.jpg,1\nb.jpg,2\n");
    const InputList list = list_inputs(root / "l.csv");
    EXPECT_EQ(rels(list), (std::vector<std::string>{"a.jpg", "b.jpg"})) << header;
    EXPECT_EQ(labels(list), (std::vector<int64_t>{1, 2})) << header;
  }
}

TEST(ListFile, MinusOneAndMissingLabelsMeanNoLabel) {
  TempDir root;
  write_text(root / "l.csv", "a.jpg,3\nb.jpg,-1\nc.jpg\nd.jpg,\ne.jpg,0\n");
  InputList list = list_inputs(root / "l.csv");
  EXPECT_TRUE(list.has_labels);
  EXPECT_TRUE(list.classes.empty());  // integers are kept, never renumbered
  EXPECT_EQ(labels(list), (std::vector<int64_t>{3, kNoLabel, kNoLabel, kNoLabel, 0}));

  // The same in a column of class names.
  write_text(root / "l.csv", "a.jpg,dog\nb.jpg,-1\nc.jpg\nd.jpg,cat\n");
  list = list_inputs(root / "l.csv");
  EXPECT_EQ(list.classes, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(labels(list), (std::vector<int64_t>{1, kNoLabel, kNoLabel, 0}));

  // Only -1: labelled, every image without a label.
  write_text(root / "l.csv", "a.jpg,-1\nb.jpg,-1\n");
  list = list_inputs(root / "l.csv");
  EXPECT_TRUE(list.has_labels);
  EXPECT_TRUE(list.classes.empty());
  EXPECT_EQ(labels(list), (std::vector<int64_t>{kNoLabel, kNoLabel}));
}

TEST(ListFile, OneNonIntegerAmongIntegersIsRefusedWithItsLine) {
  TempDir root;
  for (const char* odd : {"3x", "3.0", "cat", "+3", "0x10", "1e3", "three"}) {
    write_text(root / "l.csv",
               std::string("# integer labels\npath,label\na.jpg,1\nb.jpg,2\nc.jpg,") + odd +
                   "\nd.jpg,4\n");
    const std::string message = list_error(root / "l.csv");
    EXPECT_NE(message.find("l.csv:5: label '" + std::string(odd) + "' is not an integer"),
              std::string::npos)
        << odd << ": " << message;
    EXPECT_NE(message.find("line 3's label '1'"), std::string::npos) << message;
  }
}

TEST(ListFile, OneIntegerAmongClassNamesIsRefusedWithItsLine) {
  TempDir root;
  write_text(root / "l.csv", "a.jpg,dog\nb.jpg,cat\nc.jpg,7\nd.jpg,dog\n");
  const std::string message = list_error(root / "l.csv");
  EXPECT_NE(message.find("l.csv:3: label '7' is an integer"), std::string::npos) << message;
  EXPECT_NE(message.find("line 1's label 'dog' is a class name (as are 2 more)"),
            std::string::npos)
      << message;
}

TEST(ListFile, AHeaderOtherThanPathLabelIsRefusedAsOne) {
  TempDir root;
  write_text(root / "l.csv", "file,class\na.jpg,1\nb.jpg,2\n");
  const std::string message = list_error(root / "l.csv");
  EXPECT_NE(message.find("l.csv:1: label 'class' is not an integer"), std::string::npos)
      << message;
  EXPECT_NE(message.find("the only header is path,label"), std::string::npos) << message;
}

TEST(ListFile, NegativeAndHugeIntegersAreRefused) {
  TempDir root;
  for (const char* bad : {"-2", "-100", "99999999999999999999", "-99999999999999999999"}) {
    write_text(root / "l.csv", std::string("a.jpg,1\nb.jpg,") + bad + "\n");
    const std::string message = list_error(root / "l.csv");
    EXPECT_NE(message.find("l.csv:2: label '" + std::string(bad) + "'"), std::string::npos)
        << bad << ": " << message;
  }
}

TEST(ListFile, QuotedFields) {
  TempDir root;
  write_text(root / "l.csv",
             "path,label\n"
             "\"a,b.jpg\",3\n"
             "\"say \"\"hi\"\".jpg\", 1\n"
             " c.jpg , \"2\" \n"
             "\" spaced .jpg\"\n"
             "x,y.jpg,0\n");  // unquoted: split at the last comma, as always
  const InputList list = list_inputs(root / "l.csv");
  EXPECT_EQ(rels(list), (std::vector<std::string>{"a,b.jpg", "say \"hi\".jpg", "c.jpg",
                                                  " spaced .jpg", "x,y.jpg"}));
  EXPECT_EQ(labels(list), (std::vector<int64_t>{3, 1, 2, kNoLabel, 0}));
  EXPECT_EQ(list.items[0].path, root.path() / "a,b.jpg");
}

TEST(ListFile, MalformedLinesAreRefusedWithTheirLineNumber) {
  TempDir root;
  const std::pair<std::string, const char*> cases[] = {
      {",", "empty path"},
      {" , 3", "empty path"},
      {"\"\",3", "empty path"},
      {"\"a.jpg,3", "no closing quote"},
      {"\"a\"b.jpg,3", "after a quoted field"},
      {"\"a\",b.jpg,3", "3 fields"},
      {std::string("a\0.jpg", 6), "NUL"},
  };
  for (const auto& [line, why] : cases) {
    write_text(root / "l.csv", "ok.jpg,1\n" + line + "\n");
    const std::string message = list_error(root / "l.csv");
    EXPECT_EQ(message.rfind((root / "l.csv").string() + ":2: ", 0), 0u) << line << ": " << message;
    EXPECT_NE(message.find(why), std::string::npos) << line << ": " << message;
  }
}

TEST(ListFile, Utf16IsRefused) {
  TempDir root;
  const std::string utf16("\xFF\xFE" "a\0.\0j\0p\0g\0\n\0", 14);
  write_text(root / "l.csv", utf16);
  EXPECT_NE(list_error(root / "l.csv").find("l.csv:1: the line holds a NUL byte"),
            std::string::npos);
}

// ---- --shard K/N ----

TEST(Shard, SlicesAreDisjointContiguousAndCoverEverything) {
  TempDir root;
  for (int i = 0; i < 10; ++i) image_file(root / ("img-" + std::to_string(i) + ".jpg"));
  const std::vector<std::string> all = rels(list_inputs(root.path()));
  ASSERT_EQ(all.size(), 10u);
  for (int n : {1, 2, 3, 4, 10, 12}) {
    std::vector<std::string> joined;
    size_t smallest = all.size(), largest = 0;
    for (int k = 0; k < n; ++k) {
      const std::vector<std::string> slice = rels(list_inputs(root.path(), InputSlice{k, n}));
      smallest = std::min(smallest, slice.size());
      largest = std::max(largest, slice.size());
      joined.insert(joined.end(), slice.begin(), slice.end());
    }
    // In order, each once: disjoint, contiguous, complete.
    EXPECT_EQ(joined, all) << "N=" << n;
    EXPECT_LE(largest - smallest, 1u) << "N=" << n;
  }
  // N=3 over 10: 3, 3, 4 (floor(n * k / N) boundaries).
  EXPECT_EQ(list_inputs(root.path(), InputSlice{0, 3}).items.size(), 3u);
  EXPECT_EQ(list_inputs(root.path(), InputSlice{1, 3}).items.size(), 3u);
  EXPECT_EQ(list_inputs(root.path(), InputSlice{2, 3}).items.size(), 4u);
}

TEST(Shard, BadSpecsThrow) {
  TempDir root;
  image_file(root / "a.jpg");
  EXPECT_THROW(list_inputs(root.path(), InputSlice{3, 3}), InputError);
  EXPECT_THROW(list_inputs(root.path(), InputSlice{-1, 3}), InputError);
  EXPECT_THROW(list_inputs(root.path(), InputSlice{0, 0}), InputError);
  for (const char* text : {"3/3", "1/0", "-1/3", "a/b", "1", "", "1/", "/2", "1/2/3"})
    EXPECT_THROW(parse_slice(text), UsageError) << "'" << text << "'";
  const InputSlice s = parse_slice("2/3");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 3);
}

// ---- no images ----

TEST(NoImages, AnInputWithoutImagesIsRefusedAnEmptySliceIsNot) {
  TempDir root;
  write_text(root / "notes.txt", "not an image");
  fs::create_directories(root / "empty-class");
  EXPECT_EQ(list_error(root.path()), "no images in " + root.path().string());
  write_text(root / "empty.txt", "# only a comment\n\n");
  EXPECT_EQ(list_error(root / "empty.txt"), "no images in " + (root / "empty.txt").string());

  image_file(root / "a.jpg");
  image_file(root / "b.jpg");
  EXPECT_TRUE(list_inputs(root.path(), InputSlice{0, 3}).items.empty());  // 0 of 2
  EXPECT_EQ(list_inputs(root.path(), InputSlice{2, 3}).items.size(), 1u);
}

// ---- --classes ----

std::string classes_error(const fs::path& input, const fs::path& classes_file) {
  try {
    list_inputs(input, {}, {}, classes_file);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Classes, FolderLabelsFollowTheFileWhateverClassesArePresent) {
  TempDir root;
  image_file(root / "val" / "dog" / "d1.jpg");
  image_file(root / "val" / "bird" / "b1.jpg");
  write_text(root / "classes.json", "[\"cat\", \"dog\", \"bird\", \"fish\"]\n");

  const InputList list = list_inputs(root / "val", {}, {}, root / "classes.json");
  EXPECT_EQ(list.classes, (std::vector<std::string>{"cat", "dog", "bird", "fish"}));
  ASSERT_EQ(rels(list), (std::vector<std::string>{"bird/b1.jpg", "dog/d1.jpg"}));
  EXPECT_EQ(list.items[0].label, 2);
  EXPECT_EQ(list.items[1].label, 1);
  // Without --classes the two present classes are numbered 0 and 1.
  EXPECT_EQ(list_inputs(root / "val").items[1].label, 1);
  EXPECT_EQ(list_inputs(root / "val").items[0].label, 0);
  // A slice keeps the labels of the whole list.
  const InputList second = list_inputs(root / "val", InputSlice{1, 2}, {}, root / "classes.json");
  ASSERT_EQ(second.items.size(), 1u);
  EXPECT_EQ(second.items[0].label, 1);
}

TEST(Classes, TextFileWithBomCrlfAndBlankLines) {
  TempDir root;
  image_file(root / "imgs" / "b.jpg");
  write_text(root / "l.csv", "imgs/b.jpg,cat\nimgs/b.jpg,zebra\nimgs/b.jpg\n");
  write_text(root / "names.txt", "\xEF\xBB\xBFzebra\r\n\r\n  cat \r\nant\r\n");
  const InputList list = list_inputs(root / "l.csv", {}, {}, root / "names.txt");
  EXPECT_EQ(list.classes, (std::vector<std::string>{"zebra", "cat", "ant"}));
  ASSERT_EQ(list.items.size(), 3u);
  EXPECT_EQ(list.items[0].label, 1);
  EXPECT_EQ(list.items[1].label, 0);
  EXPECT_EQ(list.items[2].label, kNoLabel);
}

TEST(Classes, ClassesNotInTheFileRefuseTheRunNamingThem) {
  TempDir root;
  for (const char* name : {"a", "b", "c", "d", "e", "f", "g", "h"})
    image_file(root / "in" / name / "x.jpg");
  write_text(root / "one.txt", "b\n");
  EXPECT_EQ(classes_error(root / "in", root / "one.txt"),
            "7 classes are not in --classes " + (root / "one.txt").string() +
                ": 'a', 'c', 'd', 'e', 'f' and 2 more");
  write_text(root / "l.csv", "in/a/x.jpg,a\nin/h/x.jpg,q\n");
  write_text(root / "ah.txt", "a\nh\n");
  EXPECT_EQ(classes_error(root / "l.csv", root / "ah.txt"),
            "1 class is not in --classes " + (root / "ah.txt").string() + ": 'q'");
}

TEST(Classes, IntegerLabelsAreRefused) {
  TempDir root;
  image_file(root / "a.jpg");
  write_text(root / "l.csv", "a.jpg\na.jpg,3\n");
  write_text(root / "names.txt", "cat\n");
  const std::string message = classes_error(root / "l.csv", root / "names.txt");
  EXPECT_NE(message.find("l.csv:2: label '3' is an integer; --classes"), std::string::npos)
      << message;
}

TEST(Classes, BadFilesAreRefused) {
  TempDir root;
  image_file(root / "cat" / "a.jpg");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cat\ndog\ncat\n", "class 'cat' is named twice"},
      {"[\"cat\", \"cat\"]", "class 'cat' is named twice"},
      {"\n\n", "names no classes"},
      {"[]", "names no classes"},
      {"[\"cat\", 3]", "entry 2 is not a string"},
      {"[\"cat\"", "is not a JSON array of class names"},
      {"[\"cat\", \"\"]", "a class name is empty"},
      {std::string("cat\0dog", 7), "holds a NUL byte"},
  };
  for (const auto& [text, reason] : cases) {
    write_text(root / "c.txt", text);
    const std::string message = classes_error(root.path(), root / "c.txt");
    EXPECT_NE(message.find(reason), std::string::npos) << text << " -> " << message;
  }
  EXPECT_EQ(classes_error(root.path(), root / "missing.txt"),
            "cannot read --classes file " + (root / "missing.txt").string());
}

// ---- --resize with no_upscale ----

TEST(NoUpscale, SmallerImagesKeepTheirSizeLargerOnesShrink) {
  const auto resized = [](int w, int h, const char* resize) {
    const Placement p = place(w, h, parse_resize(resize), {});
    return std::pair{p.resized_w, p.resized_h};
  };
  using Size = std::pair<int, int>;
  EXPECT_EQ(resized(100, 50, "shorter:64>"), (Size{100, 50}));
  EXPECT_EQ(resized(100, 64, "shorter:64>"), (Size{100, 64}));
  EXPECT_EQ(resized(300, 128, "shorter:64>"), (Size{150, 64}));
  EXPECT_EQ(resized(100, 50, "shorter:64"), (Size{128, 64}));
  EXPECT_EQ(resized(50, 100, "longer:100>"), (Size{50, 100}));
  EXPECT_EQ(resized(50, 200, "longer:100>"), (Size{25, 100}));
  EXPECT_EQ(resized(50, 200, "80x80>"), (Size{50, 80}));  // no side grows
  EXPECT_EQ(resized(50, 200, "80x80"), (Size{80, 80}));
  EXPECT_EQ(to_string(parse_resize("letterbox:64x48>")), "letterbox:64x48>");

  // Letterbox: scaled by at most 1, still padded to the canvas.
  const Placement box = place(20, 10, parse_resize("letterbox:64x48>"), {});
  EXPECT_EQ((std::array{box.resized_w, box.resized_h, box.out_w, box.out_h}),
            (std::array{20, 10, 64, 48}));
  EXPECT_EQ(box.offset_x, -22);  // round(44 / 2 - 0.1)
  EXPECT_EQ(box.offset_y, -19);  // round(38 / 2 - 0.1)

  // A crop larger than the unscaled image pads it, as a crop larger than any image does.
  const Placement crop = place(20, 10, parse_resize("shorter:64>"), parse_crop("center:32"));
  EXPECT_EQ((std::array{crop.resized_w, crop.resized_h, crop.out_w, crop.out_h}),
            (std::array{20, 10, 32, 32}));
  EXPECT_EQ(crop.offset_x, -6);
  EXPECT_EQ(crop.offset_y, -11);

  // Output sizes: a shrink-only WxH depends on the image, a letterbox or a crop does not.
  EXPECT_FALSE(has_fixed_output_size(parse_resize("80x80>"), {}));
  EXPECT_TRUE(has_fixed_output_size(parse_resize("80x80"), {}));
  EXPECT_TRUE(has_fixed_output_size(parse_resize("letterbox:80x80>"), {}));
  EXPECT_TRUE(has_fixed_output_size(parse_resize("80x80>"), parse_crop("center:64")));
}

}  // namespace
}  // namespace imgprep

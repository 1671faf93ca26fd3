// .npy headers and ShardWriter's files, read back with a small .npy (format 1.0) parser written
// here from the format's specification, independent of shard_writer.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "imgprep/outputs/shard_writer.h"
#include "npy_header.h"  // private to outputs/: tested here against the parser below
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;
using test::read_bytes;
using test::TempDir;

struct Npy {
  std::string descr;
  bool fortran_order = true;
  std::vector<int64_t> shape;
  size_t header_size = 0;  // where the data starts
  std::vector<uint8_t> data;
};

// The value text after 'key': in the header dict, up to the next ", '" or the closing brace.
std::string dict_value(const std::string& dict, const std::string& key) {
  const size_t at = dict.find("'" + key + "':");
  if (at == std::string::npos) throw std::runtime_error("no key " + key + " in " + dict);
  size_t begin = at + key.size() + 3;
  while (dict[begin] == ' ') ++begin;
  size_t end = begin;
  if (dict[begin] == '(') {
    end = dict.find(')', begin) + 1;
  } else if (dict[begin] == '\'') {
    end = dict.find('\'', begin + 1) + 1;
  } else {
    while (end < dict.size() && dict[end] != ',' && dict[end] != '}') ++end;
  }
  return dict.substr(begin, end - begin);
}

// Parses "(a, b, c)", "(a,)" and "()" as Python does.
std::vector<int64_t> parse_shape(const std::string& tuple) {
  if (tuple.size() < 2 || tuple.front() != '(' || tuple.back() != ')')
    throw std::runtime_error("bad shape " + tuple);
  std::vector<int64_t> shape;
  const std::string inner = tuple.substr(1, tuple.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    while (pos < inner.size() && (inner[pos] == ' ' || inner[pos] == ',')) ++pos;
    if (pos == inner.size()) break;
    size_t used = 0;
    shape.push_back(std::stoll(inner.substr(pos), &used));
    pos += used;
  }
  // A one-element tuple needs its trailing comma in Python.
  if (shape.size() == 1 && inner.find(',') == std::string::npos)
    throw std::runtime_error("one-element shape without a comma: " + tuple);
  return shape;
}

Npy parse_npy(const std::vector<uint8_t>& file) {
  if (file.size() < 10 || std::memcmp(file.data(), "\x93NUMPY", 6) != 0)
    throw std::runtime_error("not an .npy file");
  if (file[6] != 1 || file[7] != 0) throw std::runtime_error("not format version 1.0");
  const size_t dict_len = file[8] | (size_t{file[9]} << 8);
  if (10 + dict_len > file.size()) throw std::runtime_error("header longer than the file");
  const std::string dict(file.begin() + 10, file.begin() + 10 + dict_len);
  if (dict.empty() || dict.back() != '\n') throw std::runtime_error("header not ended by \\n");
  if (dict.front() != '{') throw std::runtime_error("header is not a dict: " + dict);
  Npy npy;
  const std::string descr = dict_value(dict, "descr");
  npy.descr = descr.substr(1, descr.size() - 2);
  const std::string fortran = dict_value(dict, "fortran_order");
  if (fortran != "False" && fortran != "True") throw std::runtime_error("bad fortran_order");
  npy.fortran_order = fortran == "True";
  npy.shape = parse_shape(dict_value(dict, "shape"));
  npy.header_size = 10 + dict_len;
  npy.data.assign(file.begin() + static_cast<std::ptrdiff_t>(npy.header_size), file.end());
  return npy;
}

TEST(NpyHeader, LengthIsAMultipleOf64AndParses) {
  const struct {
    const char* descr;
    std::vector<int64_t> shape;
  } cases[] = {{"<f4", {1024, 3, 224, 224}}, {"<f2", {7, 224, 224, 3}}, {"|u1", {5, 2, 3, 3}},
               {"<i8", {5}},                 {"<i8", {0}},                {"<f4", {}},
               {"<f4", {123456789012, 1}}};
  for (const auto& c : cases) {
    for (size_t min_size : {size_t{0}, size_t{100}, size_t{128}, size_t{300}}) {
      const std::string header = npy_header(c.descr, c.shape, min_size);
      SCOPED_TRACE(header);
      EXPECT_EQ(header.size() % 64, 0u);
      EXPECT_GE(header.size(), min_size);
      EXPECT_LT(header.size(), std::max<size_t>(min_size, 64) + 128);  // padded, not bloated
      const Npy npy = parse_npy(std::vector<uint8_t>(header.begin(), header.end()));
      EXPECT_EQ(npy.header_size, header.size());
      EXPECT_EQ(npy.descr, c.descr);
      EXPECT_FALSE(npy.fortran_order);
      EXPECT_EQ(npy.shape, c.shape);
      EXPECT_TRUE(npy.data.empty());
    }
  }
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

// Row r of a 2x3x3 uint8 tensor: bytes r * 20 + k.
std::vector<uint8_t> row_bytes(int r) {
  std::vector<uint8_t> row(18);
  for (size_t k = 0; k < row.size(); ++k) row[k] = static_cast<uint8_t>(r * 20 + k);
  return row;
}

TEST(ShardWriter, FiveRowsInShardsOfTwo) {
  TempDir dir;
  const int64_t labels[] = {7, -1, 3, 0, 42};
  {
    ShardWriter writer(dir.path(), 2, "|u1", {2, 3, 3}, true, 5);
    const ShardWriter::Location expected_at[] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}};
    for (int r = 0; r < 5; ++r) {
      const ShardWriter::Location at = writer.append(row_bytes(r).data(), labels[r]);
      EXPECT_EQ(at.shard, expected_at[r].shard) << "row " << r;
      EXPECT_EQ(at.row, expected_at[r].row) << "row " << r;
    }
    writer.finish();
    EXPECT_EQ(writer.shards_written(), 3);
  }
  EXPECT_EQ(files_in(dir.path()),
            (std::vector<fs::path>{"labels-00000.npy", "labels-00001.npy", "labels-00002.npy",
                                   "shard-00000.npy", "shard-00001.npy", "shard-00002.npy"}));

  const int rows_in[] = {2, 2, 1};
  int next_row = 0;
  for (int s = 0; s < 3; ++s) {
    SCOPED_TRACE("shard " + std::to_string(s));
    const Npy shard = parse_npy(read_bytes(dir / ShardWriter::shard_name(s)));
    EXPECT_EQ(shard.header_size % 64, 0u);
    EXPECT_EQ(shard.descr, "|u1");
    EXPECT_FALSE(shard.fortran_order);
    EXPECT_EQ(shard.shape, (std::vector<int64_t>{rows_in[s], 2, 3, 3}));
    ASSERT_EQ(shard.data.size(), static_cast<size_t>(rows_in[s]) * 18);  // nothing after the rows
    const Npy label_file = parse_npy(read_bytes(dir / ShardWriter::labels_name(s)));
    EXPECT_EQ(label_file.descr, "<i8");
    EXPECT_EQ(label_file.shape, std::vector<int64_t>{rows_in[s]});
    ASSERT_EQ(label_file.data.size(), static_cast<size_t>(rows_in[s]) * 8);
    for (int r = 0; r < rows_in[s]; ++r, ++next_row) {
      const std::vector<uint8_t> want = row_bytes(next_row);
      EXPECT_TRUE(std::equal(want.begin(), want.end(), shard.data.begin() + r * 18))
          << "row " << next_row;
      int64_t label = 0;
      for (int b = 7; b >= 0; --b) label = label << 8 | label_file.data[r * 8 + b];  // little-endian
      EXPECT_EQ(label, labels[next_row]) << "row " << next_row;
    }
  }
  EXPECT_EQ(next_row, 5);
}

TEST(ShardWriter, FloatRowsWithoutLabels) {
  TempDir dir;
  {
    // Space is reserved for 10 rows; the shard must still end right after the 3 written.
    ShardWriter writer(dir.path(), 4, "<f4", {3}, false, 10);
    for (int r = 0; r < 3; ++r) {
      const float row[3] = {r + 0.5f, -1.f * r, 1e-3f * r};
      writer.append(row, -1);
    }
    writer.finish();
    writer.finish();  // nothing left: no empty shard
    EXPECT_EQ(writer.shards_written(), 1);
  }
  EXPECT_EQ(files_in(dir.path()), std::vector<fs::path>{"shard-00000.npy"});
  const Npy shard = parse_npy(read_bytes(dir / "shard-00000.npy"));
  EXPECT_EQ(shard.descr, "<f4");
  EXPECT_EQ(shard.shape, (std::vector<int64_t>{3, 3}));
  ASSERT_EQ(shard.data.size(), 36u);
  float values[9];
  std::memcpy(values, shard.data.data(), sizeof values);
  EXPECT_EQ(values[3], 1.5f);
  EXPECT_EQ(values[4], -1.f);
  EXPECT_EQ(values[8], 2e-3f);
}

TEST(ShardWriter, AbandonedShardLeavesNoPartFile) {
  TempDir dir;
  {
    ShardWriter writer(dir.path(), 2, "|u1", {2, 3, 3}, true, 3);
    for (int r = 0; r < 3; ++r) writer.append(row_bytes(r).data(), r);
    // Destroyed without finish(): the run failed. Completed shards stay, the open one goes.
  }
  for (const fs::path& name : files_in(dir.path()))
    EXPECT_NE(name.extension(), ".part") << name;
  EXPECT_TRUE(fs::exists(dir / "shard-00000.npy"));
  EXPECT_FALSE(fs::exists(dir / "shard-00001.npy"));
}

// Rows of an odd size (1,000,003 bytes) in shards of 13 rows: shards go to disk in blocks of
// several MiB (direct I/O where the filesystem has it), so rows straddle block boundaries and
// every shard ends in a partial block.
std::vector<uint8_t> big_row(int r) {
  std::vector<uint8_t> row(1000003);
  uint32_t x = 2654435761u * static_cast<uint32_t>(r + 1);
  for (uint8_t& b : row) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return row;
}

TEST(ShardWriter, LargeRowsAcrossBlocksReadBackExactly) {
  TempDir dir;
  constexpr int kRows = 30, kShard = 13;
  {
    ShardWriter writer(dir.path(), kShard, "|u1", {1000003}, false, kRows);
    for (int r = 0; r < kRows; ++r) writer.append(big_row(r).data(), -1);
    writer.finish();
    EXPECT_EQ(writer.shards_written(), 3);
  }
  int next_row = 0;
  for (int s = 0; s < 3; ++s) {
    SCOPED_TRACE("shard " + std::to_string(s));
    const Npy shard = parse_npy(read_bytes(dir / ShardWriter::shard_name(s)));
    const int rows = s < 2 ? kShard : kRows - 2 * kShard;
    EXPECT_EQ(shard.shape, (std::vector<int64_t>{rows, 1000003}));
    ASSERT_EQ(shard.data.size(), static_cast<size_t>(rows) * 1000003);
    for (int r = 0; r < rows; ++r, ++next_row) {
      const std::vector<uint8_t> want = big_row(next_row);
      ASSERT_TRUE(std::equal(want.begin(), want.end(), shard.data.begin() + r * 1000003L))
          << "row " << next_row;
    }
  }
  EXPECT_EQ(next_row, kRows);
}

TEST(ShardWriter, AbandonedWhileBlocksAreWritten) {
  TempDir dir;
  {
    ShardWriter writer(dir.path(), 13, "|u1", {1000003}, false, 30);
    for (int r = 0; r < 20; ++r) writer.append(big_row(r).data(), -1);
    writer.abandon();
  }
  EXPECT_EQ(files_in(dir.path()), std::vector<fs::path>{"shard-00000.npy"});
  const Npy shard = parse_npy(read_bytes(dir / "shard-00000.npy"));
  EXPECT_EQ(shard.shape, (std::vector<int64_t>{13, 1000003}));
}

}  // namespace
}  // namespace imgprep

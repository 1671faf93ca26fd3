#include "imgprep/outputs/shard_writer.h"

#include "block_writer.h"
#include "npy_header.h"
#include "shard_check.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>

namespace imgprep {

ShardWriter::ShardWriter(std::filesystem::path dir, int shard_size, std::string descr,
                         std::vector<int64_t> item_shape, bool labels, int64_t expected_rows,
                         int first_shard)
    : dir_(std::move(dir)),
      shard_size_(shard_size),
      descr_(std::move(descr)),
      item_shape_(std::move(item_shape)),
      labels_(labels),
      expected_rows_(expected_rows),
      shards_written_(first_shard) {
  item_bytes_ = std::stoul(descr_.substr(2));
  for (int64_t d : item_shape_) item_bytes_ *= static_cast<size_t>(d);
  // Sized for a full shard, so the final header always fits in the space reserved up front.
  header_size_ = npy_header(descr_, shape_for(shard_size_)).size();
  for (int index = 0; index < first_shard; ++index) check_on_disk(index);
}

namespace {

// Why `path` is not exactly header followed by body_bytes bytes; empty if it is.
std::string file_problem(const std::filesystem::path& path, const std::string& header,
                         uint64_t body_bytes) {
  const std::string problem = size_problem(path, header.size() + body_bytes);
  if (!problem.empty()) return problem;
  std::string head(header.size(), '\0');
  std::ifstream in(path, std::ios::binary);
  if (!in.read(head.data(), static_cast<std::streamsize>(head.size())))
    return "cannot be read";
  if (head != header) return "has another .npy header than this run writes";
  return {};
}

}  // namespace

std::string ShardWriter::shard_problem(const std::filesystem::path& dir, int index,
                                       int shard_size, const std::string& descr,
                                       const std::vector<int64_t>& item_shape, bool labels,
                                       int rows) {
  std::vector<int64_t> full{shard_size}, shape{rows};
  full.insert(full.end(), item_shape.begin(), item_shape.end());
  shape.insert(shape.end(), item_shape.begin(), item_shape.end());
  uint64_t item_bytes = std::stoul(descr.substr(2));
  for (int64_t d : item_shape) item_bytes *= static_cast<uint64_t>(d);
  std::string name = shard_name(index);
  std::string problem = file_problem(dir / name, npy_header(descr, shape,
                                                            npy_header(descr, full).size()),
                                     static_cast<uint64_t>(rows) * item_bytes);
  if (problem.empty() && labels) {
    name = labels_name(index);
    problem = file_problem(dir / name, npy_header("<i8", {rows}),
                           static_cast<uint64_t>(rows) * sizeof(int64_t));
  }
  return problem.empty() ? problem : name + " " + problem;
}

void ShardWriter::check_on_disk(int index) const {
  const std::string problem =
      shard_problem(dir_, index, shard_size_, descr_, item_shape_, labels_, shard_size_);
  if (!problem.empty()) throw journalled_shard_error(dir_, index, problem);
}

ShardWriter::~ShardWriter() = default;

std::string ShardWriter::shard_name(int index) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%05d.npy", index);
  return name;
}

std::string ShardWriter::labels_name(int index) {
  char name[32];
  std::snprintf(name, sizeof name, "labels-%05d.npy", index);
  return name;
}

std::vector<int64_t> ShardWriter::shape_for(int rows) const {
  std::vector<int64_t> shape{rows};
  shape.insert(shape.end(), item_shape_.begin(), item_shape_.end());
  return shape;
}

void ShardWriter::open_shard() {
  file_ = std::make_unique<AtomicFile>(dir_ / shard_name(shards_written_),
                                       AtomicFile::Caching::direct_if_possible);
  const int64_t rows = std::clamp<int64_t>(expected_rows_ - rows_total_, 1, shard_size_);
  file_->reserve(header_size_ + static_cast<uint64_t>(rows) * item_bytes_);
  in_blocks_ = file_->direct();
  if (in_blocks_ && !blocks_) blocks_ = std::make_unique<BlockWriter>(kBlockBytes, kBlocks);
  size_ = 0;
  unflushed_ = 0;
  const std::string placeholder(header_size_, ' ');
  put(placeholder.data(), placeholder.size());
}

void ShardWriter::put(const void* data, size_t size) {
  if (!in_blocks_) {
    file_->write_at(data, size, size_);
    size_ += size;
    // Keeps the disk writing behind us, so closing a shard durably waits only for its tail.
    unflushed_ += size;
    if (unflushed_ >= (uint64_t{64} << 20)) {
      file_->start_writeback();
      unflushed_ = 0;
    }
    return;
  }
  // Direct I/O: gathered into whole aligned blocks, each written while the next one fills.
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    if (!block_) block_ = blocks_->acquire();
    const size_t n = std::min(size, kBlockBytes - blocked_);
    std::memcpy(block_ + blocked_, bytes, n);
    blocked_ += n;
    size_ += n;
    bytes += n;
    size -= n;
    if (blocked_ == kBlockBytes) flush_block();
  }
}

void ShardWriter::flush_block() {
  blocks_->write(*file_, std::exchange(block_, nullptr), blocked_, size_ - blocked_);
  blocked_ = 0;
}

ShardWriter::Location ShardWriter::append(const void* tensor, int64_t label) {
  if (!file_) open_shard();
  put(tensor, item_bytes_);
  shard_labels_.push_back(label);
  ++rows_total_;
  Location at{shards_written_, rows_++, false};
  if (rows_ == shard_size_) {
    close_shard();
    at.completed_shard = true;
  }
  return at;
}

void ShardWriter::close_shard() {
  if (in_blocks_) {
    // The whole blocks first; the tail and the header are not whole blocks.
    blocks_->drain();
    file_->end_direct();
    if (block_) flush_block();
    blocks_->drain();
  }
  const std::string header = npy_header(descr_, shape_for(rows_), header_size_);
  file_->write_at(header.data(), header.size(), 0);
  file_->truncate(size_);
  file_->commit();
  file_.reset();
  if (labels_) {
    std::string bytes = npy_header("<i8", {rows_});
    bytes.append(reinterpret_cast<const char*>(shard_labels_.data()),
                 shard_labels_.size() * sizeof(int64_t));
    AtomicFile::write_file(dir_ / labels_name(shards_written_), bytes);
  }
  shard_labels_.clear();
  rows_ = 0;
  ++shards_written_;
}

void ShardWriter::finish() {
  if (file_) close_shard();
}

void ShardWriter::abandon() {
  if (blocks_) {
    try {
      blocks_->drain();  // the file is being dropped: its write errors no longer matter
    } catch (const std::exception&) {
    }
    if (block_) blocks_->release(std::exchange(block_, nullptr));
  }
  blocked_ = 0;
  file_.reset();
  shard_labels_.clear();
  rows_ = 0;
}

}  // namespace imgprep

#include "tar_writer.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <utility>

#include "shard_check.h"

namespace imgprep {
namespace {

// Field offsets and widths of the ustar header (POSIX.1-1988).
constexpr size_t kName = 0, kNameSize = 100;
constexpr size_t kMode = 100, kUid = 108, kGid = 116, kSize = 124, kMtime = 136;
constexpr size_t kChecksum = 148, kChecksumSize = 8;
constexpr size_t kTypeflag = 156, kMagic = 257, kVersion = 263, kDevMajor = 329, kDevMinor = 337;

// value as `digits` octal digits and a NUL, at offset.
void put_octal(std::string& header, size_t offset, int digits, uint64_t value) {
  char field[24];
  std::snprintf(field, sizeof field, "%0*llo", digits, static_cast<unsigned long long>(value));
  std::memcpy(header.data() + offset, field, static_cast<size_t>(digits) + 1);
}

// The sum of the header's bytes, unsigned, with the checksum field counted as spaces.
uint64_t checksum(std::string_view header) {
  uint64_t sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i)
    sum += i >= kChecksum && i < kChecksum + kChecksumSize ? ' '
                                                           : static_cast<unsigned char>(header[i]);
  return sum;
}

}  // namespace

std::string tar_header(std::string_view name, uint64_t size) {
  if (name.empty() || name.size() > kNameSize)
    throw std::length_error("tar member name of " + std::to_string(name.size()) + " bytes");
  if (size >= (uint64_t{1} << 33))
    throw std::length_error("tar member of " + std::to_string(size) + " bytes");
  std::string header(kTarBlock, '\0');
  std::memcpy(header.data() + kName, name.data(), name.size());
  put_octal(header, kMode, 7, 0644);
  put_octal(header, kUid, 7, 0);
  put_octal(header, kGid, 7, 0);
  put_octal(header, kSize, 11, size);
  put_octal(header, kMtime, 11, 0);
  header[kTypeflag] = '0';
  std::memcpy(header.data() + kMagic, "ustar", 6);  // with its NUL
  std::memcpy(header.data() + kVersion, "00", 2);
  put_octal(header, kDevMajor, 7, 0);
  put_octal(header, kDevMinor, 7, 0);
  // Six digits, a NUL and a space, as tar writes it.
  put_octal(header, kChecksum, 6, checksum(header));
  header[kChecksum + 7] = ' ';
  return header;
}

std::string tar_problem(const std::filesystem::path& path, uint64_t bytes) {
  std::string problem = size_problem(path, bytes);
  if (!problem.empty()) return problem;
  // At least one member's header and the end blocks, in whole blocks.
  if (bytes < kTarBlock + kTarEnd || bytes % kTarBlock != 0)
    return "is " + std::to_string(bytes) + " bytes: not a whole tar";
  std::ifstream in(path, std::ios::binary);
  std::string first(kTarBlock, '\0'), end(kTarEnd, '\0');
  if (!in.read(first.data(), kTarBlock) ||
      !in.seekg(static_cast<std::streamoff>(bytes - kTarEnd)) || !in.read(end.data(), kTarEnd))
    return "cannot be read";
  char recorded[kChecksumSize] = {};
  std::snprintf(recorded, sizeof recorded, "%06llo",
                static_cast<unsigned long long>(checksum(first)));
  if (first.compare(kMagic, 6, std::string_view("ustar", 6)) != 0 ||
      first.compare(kChecksum, 6, recorded) != 0)
    return "does not begin with a tar header";
  if (end.find_first_not_of('\0') != std::string::npos) return "does not end as a tar ends";
  return {};
}

TarShardWriter::TarShardWriter(std::filesystem::path dir, int shard_size, int first_shard,
                               const std::vector<uint64_t>& journalled_bytes)
    : dir_(std::move(dir)), shard_size_(shard_size), shards_written_(first_shard) {
  for (int index = 0; index < first_shard; ++index) {
    const std::string name = shard_name(index);
    const std::string problem = tar_problem(dir_ / name, journalled_bytes.at(index));
    if (!problem.empty()) throw journalled_shard_error(dir_, index, name + " " + problem);
  }
}

TarShardWriter::~TarShardWriter() = default;

std::string TarShardWriter::shard_name(int index) {
  char name[32];
  std::snprintf(name, sizeof name, "shard-%05d.tar", index);
  return name;
}

TarShardWriter::Location TarShardWriter::append(const std::vector<Member>& sample) {
  if (!file_) {
    file_ = std::make_unique<AtomicFile>(dir_ / shard_name(shards_written_));
    size_ = 0;
    unflushed_ = 0;
  }
  static const std::string zeros(kTarBlock, '\0');
  for (const Member& m : sample) {
    const uint64_t size = m.head.size() + m.body.size();
    put(tar_header(m.name, size));
    put(m.head);
    put(m.body);
    put(std::string_view(zeros).substr(0, (kTarBlock - size % kTarBlock) % kTarBlock));
  }
  Location at{shards_written_, false, 0};
  if (++samples_ == shard_size_) {
    at.shard_bytes = close_shard();
    at.completed_shard = true;
  }
  return at;
}

// Small members are gathered into one write; a large one (a tensor, an image) goes on its own,
// without a copy.
void TarShardWriter::put(std::string_view bytes) {
  constexpr size_t kBuffer = size_t{1} << 20;
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() <= kBuffer) {
    buffer_.append(bytes);
    return;
  }
  flush();
  if (bytes.size() < kBuffer) {
    buffer_.append(bytes);
    return;
  }
  file_->write(bytes.data(), bytes.size());
  unflushed_ += bytes.size();
}

void TarShardWriter::flush() {
  file_->write(buffer_.data(), buffer_.size());
  unflushed_ += buffer_.size();
  buffer_.clear();
  // Keeps the disk writing behind us, so closing a shard durably waits only for its tail.
  if (unflushed_ >= (uint64_t{64} << 20)) {
    file_->start_writeback();
    unflushed_ = 0;
  }
}

uint64_t TarShardWriter::close_shard() {
  put(std::string(kTarEnd, '\0'));
  flush();
  file_->commit();
  file_.reset();
  samples_ = 0;
  ++shards_written_;
  return size_;
}

void TarShardWriter::finish() {
  if (file_) close_shard();
}

void TarShardWriter::abandon() {
  file_.reset();
  buffer_.clear();
  samples_ = 0;
}

}  // namespace imgprep

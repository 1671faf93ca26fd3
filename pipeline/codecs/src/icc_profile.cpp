#include "imgprep/codecs/icc_profile.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace imgprep {
namespace {

void put_be16(Bytes& out, size_t value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}
void put_be32(Bytes& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}
void put_le(Bytes& out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}
void put_text(Bytes& out, const char* text, size_t size) {
  out.insert(out.end(), text, text + size);
}
uint32_t le32(const Bytes& file, size_t at) {
  return file[at] | file[at + 1] << 8 | file[at + 2] << 16 | uint32_t{file[at + 3]} << 24;
}
bool has_text(const Bytes& file, size_t at, const char* text) {
  const size_t size = std::strlen(text);
  return file.size() >= at + size && std::memcmp(file.data() + at, text, size) == 0;
}

// APP2 "ICC_PROFILE\0" segments, each with its 1-based number and the count (ICC.1 B.4), after
// SOI and the JFIF APP0 segment, which JFIF wants first.
void embed_jpeg(Bytes& file, const std::string& profile) {
  constexpr size_t kPerSegment = 65519;  // 65535 - the length field - the 14-byte header
  const size_t count = (profile.size() + kPerSegment - 1) / kPerSegment;
  if (count > 255)
    throw std::runtime_error("the ICC profile (" + std::to_string(profile.size()) +
                             " bytes) is too large for a JPEG file");
  if (!has_text(file, 0, "\xFF\xD8")) throw std::runtime_error("JPEG data without SOI");
  size_t at = 2;
  while (at + 4 <= file.size() && file[at] == 0xFF && file[at + 1] == 0xE0)
    at += 2 + (size_t{file[at + 2]} << 8 | file[at + 3]);
  if (at > file.size()) throw std::runtime_error("JPEG data with a cut APP0 segment");
  Bytes segments;
  for (size_t i = 0; i < count; ++i) {
    const size_t size = std::min(kPerSegment, profile.size() - i * kPerSegment);
    put_text(segments, "\xFF\xE2", 2);
    put_be16(segments, 2 + 14 + size);
    put_text(segments, "ICC_PROFILE", 12);  // with its NUL
    segments.push_back(static_cast<uint8_t>(i + 1));
    segments.push_back(static_cast<uint8_t>(count));
    put_text(segments, profile.data() + i * kPerSegment, size);
  }
  file.insert(file.begin() + static_cast<long>(at), segments.begin(), segments.end());
}

// An iCCP chunk (name "icc", zlib-compressed profile) right after IHDR, the first chunk, so
// that it precedes PLTE and IDAT as the PNG specification requires.
void embed_png(Bytes& file, const std::string& profile) {
  constexpr size_t kAfterIhdr = 8 + 4 + 4 + 13 + 4;  // signature, IHDR's length, type, data, CRC
  if (!has_text(file, 0, "\x89PNG\r\n\x1A\n") || !has_text(file, 12, "IHDR") ||
      file.size() < kAfterIhdr)
    throw std::runtime_error("PNG data without IHDR");
  uLongf packed_size = compressBound(static_cast<uLong>(profile.size()));
  Bytes packed(packed_size);
  if (compress2(packed.data(), &packed_size, reinterpret_cast<const Bytef*>(profile.data()),
                static_cast<uLong>(profile.size()), Z_DEFAULT_COMPRESSION) != Z_OK)
    throw std::runtime_error("cannot compress the ICC profile");
  Bytes chunk;
  put_be32(chunk, static_cast<uint32_t>(5 + packed_size));  // "icc\0", method 0, the data
  put_text(chunk, "iCCPicc\0", 8);
  chunk.push_back(0);  // compression method: zlib
  chunk.insert(chunk.end(), packed.begin(), packed.begin() + static_cast<long>(packed_size));
  put_be32(chunk, static_cast<uint32_t>(crc32(0, chunk.data() + 4, static_cast<uInt>(chunk.size() - 4))));
  file.insert(file.begin() + static_cast<long>(kAfterIhdr), chunk.begin(), chunk.end());
}

// An ICCP chunk after the VP8X header chunk, which the ICC flag must announce; a simple-format
// file (one VP8 or VP8L chunk) gets that header first. The images are opaque, so no alpha flag.
void embed_webp(Bytes& file, int width, int height, const std::string& profile) {
  constexpr size_t kChunks = 12;  // after "RIFF", its size, "WEBP"
  constexpr uint8_t kIccFlag = 0x20;
  if (!has_text(file, 0, "RIFF") || !has_text(file, 8, "WEBP") || file.size() < kChunks + 8)
    throw std::runtime_error("WebP data without a RIFF header");
  Bytes chunks;
  size_t at = kChunks;
  if (has_text(file, kChunks, "VP8X")) {
    file[kChunks + 8] |= kIccFlag;
    at += 8 + 10;
  } else {
    put_text(chunks, "VP8X", 4);
    put_le(chunks, 10, 4);
    put_le(chunks, kIccFlag, 4);  // the flags byte, then 3 reserved bytes
    put_le(chunks, static_cast<uint32_t>(width - 1), 3);
    put_le(chunks, static_cast<uint32_t>(height - 1), 3);
  }
  put_text(chunks, "ICCP", 4);
  put_le(chunks, static_cast<uint32_t>(profile.size()), 4);
  put_text(chunks, profile.data(), profile.size());
  if (profile.size() % 2 != 0) chunks.push_back(0);  // chunks start at even offsets
  file.insert(file.begin() + static_cast<long>(at), chunks.begin(), chunks.end());
  const uint32_t riff_size = le32(file, 4) + static_cast<uint32_t>(chunks.size());
  for (int i = 0; i < 4; ++i) file[4 + i] = static_cast<uint8_t>(riff_size >> (8 * i));
}

}  // namespace

bool is_rgb_icc_profile(const std::string& profile) {
  // The header's data colour space field, at byte 16 of its 128 bytes.
  return profile.size() >= 128 && profile.compare(16, 4, "RGB ") == 0;
}

void embed_icc_profile(Bytes& file, const std::string& ext, int width, int height,
                       const std::string& profile) {
  if (ext == ".jpg") return embed_jpeg(file, profile);
  if (ext == ".png") return embed_png(file, profile);
  if (ext == ".webp") return embed_webp(file, width, height, profile);
  throw std::runtime_error("cannot embed an ICC profile in " + ext + " files");
}

}  // namespace imgprep

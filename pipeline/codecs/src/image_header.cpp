#include "imgprep/codecs/image_header.h"

#include <cstdlib>

namespace imgprep {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | p[2] << 16 | p[1] << 8 | p[0]; }
uint16_t le16(const uint8_t* p) { return uint16_t(p[1] << 8 | p[0]); }
uint32_t le24(const uint8_t* p) { return uint32_t(p[2]) << 16 | p[1] << 8 | p[0]; }

// TIFF layouts that OpenCV 4.6 decodes "successfully" into wrong pixels (Pillow reads them
// right): samples wider than 8 bits in separate planes come out as unwritten memory or nearly
// black, and gray with alpha is read right only from contiguous strips.
const char* tiff_unsupported(uint32_t bits, uint32_t samples, uint32_t planar, bool tiled) {
  constexpr uint32_t kSeparatePlanes = 2;
  if (planar == kSeparatePlanes && samples > 1 && bits > 8)
    return "samples wider than 8 bits in separate planes (PlanarConfiguration 2) are not supported";
  if (samples == 2 && (tiled || planar == kSeparatePlanes))
    return "gray with alpha is supported only in contiguous strips (not in tiles or separate "
           "planes)";
  return nullptr;
}

std::optional<ImageSize> tiff_size(std::span<const uint8_t> d) {
  if (d.size() < 8) return std::nullopt;
  const bool little = d[0] == 'I';
  auto u16 = [&](size_t at) -> uint32_t {
    return little ? le16(&d[at]) : uint16_t(d[at] << 8 | d[at + 1]);
  };
  auto u32 = [&](size_t at) -> uint32_t { return little ? le32(&d[at]) : be32(&d[at]); };
  // The first value of a SHORT entry, stored in the entry or (more than two) at its offset;
  // 0 when it lies outside the bytes at hand.
  auto first_short = [&](size_t e) -> uint32_t {
    if (u32(e + 4) <= 2) return u16(e + 8);
    const size_t at = u32(e + 8);
    return at + 2 <= d.size() ? u16(at) : 0;
  };
  const size_t ifd = u32(4);
  if (ifd + 2 > d.size()) return std::nullopt;
  const uint32_t entries = u16(ifd);
  ImageSize size;
  uint32_t bits = 1, samples = 1, planar = 1, extra = 0;  // the TIFF defaults
  bool tiled = false;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > d.size()) return std::nullopt;
    const uint32_t tag = u16(e), type = u16(e + 2);
    const uint32_t value = type == 3 ? u16(e + 8) : u32(e + 8);
    if (tag == 256) size.width = value;
    if (tag == 257) size.height = value;
    if (tag == 258 && type == 3) bits = first_short(e);
    if (tag == 277) samples = value;
    if (tag == 284) planar = value;
    if (tag == 322) tiled = true;  // TileWidth
    if (tag == 338 && type == 3) extra = first_short(e);
  }
  if (size.width == 0 || size.height == 0) return std::nullopt;
  size.unsupported = tiff_unsupported(bits, samples, planar, tiled);
  // 8-bit colour with unassociated alpha goes through libtiff's RGBA reader, which
  // premultiplies it: right only where the alpha is 255.
  constexpr uint32_t kUnassociatedAlpha = 2;
  size.opaque_only = bits == 8 && samples >= 4 && extra == kUnassociatedAlpha;
  return size;
}

std::optional<ImageSize> webp_size(std::span<const uint8_t> d) {
  if (d.size() < 30) return std::nullopt;
  const uint8_t* c = &d[12];
  if (c[0] == 'V' && c[1] == 'P' && c[2] == '8' && c[3] == ' ')
    return ImageSize{le16(&d[26]) & 0x3fff, le16(&d[28]) & 0x3fff};
  if (c[0] == 'V' && c[1] == 'P' && c[2] == '8' && c[3] == 'L') {
    const uint32_t bits = le32(&d[21]);
    return ImageSize{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
  }
  if (c[0] == 'V' && c[1] == 'P' && c[2] == '8' && c[3] == 'X')
    return ImageSize{le24(&d[24]) + 1, le24(&d[27]) + 1};
  return std::nullopt;
}

// Markers that stand alone, without a length: SOI, RST0..7 and TEM.
bool jpeg_marker_without_segment(uint8_t marker) {
  return marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01;
}

// SOF0..SOF15, but DHT (C4), JPG (C8) and DAC (CC), which share the range.
bool jpeg_frame_marker(uint8_t marker) {
  return marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
}

}  // namespace

std::optional<ImageSize> read_jpeg_size(const ReadAt& read) {
  // Files with more segments than this before their frame are left to the decoder.
  constexpr int kMaxSegments = 4096;
  const auto be16 = [](const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; };
  uint64_t at = 2;  // after SOI
  uint8_t b[5];
  for (int segment = 0; segment < kMaxSegments; ++segment) {
    if (!read(at, b, 4) || b[0] != 0xff) return std::nullopt;
    const uint8_t marker = b[1];
    if (marker == 0xff) {  // a fill byte before the marker
      at += 1;
    } else if (jpeg_marker_without_segment(marker)) {
      at += 2;
    } else if (marker == 0xda || marker == 0xd9) {
      return std::nullopt;  // scan data or the end before any frame
    } else if (jpeg_frame_marker(marker)) {  // length, precision, height, width
      if (!read(at + 4, b, 5)) return std::nullopt;
      return ImageSize{be16(b + 3), be16(b + 1)};
    } else {
      at += 2 + be16(b + 2);
    }
  }
  return std::nullopt;
}

std::string pixel_limit_error(int64_t width, int64_t height, uint64_t max_pixels) {
  const uint64_t pixels = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
  if (pixels <= max_pixels) return {};
  return "image is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
         std::to_string(pixels) + " pixels, over --max-pixels " + std::to_string(max_pixels);
}

std::optional<ImageSize> read_image_size(ImageFormat format, std::span<const uint8_t> d) {
  switch (format) {
    case ImageFormat::png:
      if (d.size() < 24) return std::nullopt;
      return ImageSize{be32(&d[16]), be32(&d[20])};
    case ImageFormat::bmp: {
      if (d.size() < 26) return std::nullopt;
      if (le32(&d[14]) == 12) return ImageSize{le16(&d[18]), le16(&d[20])};
      const auto w = static_cast<int32_t>(le32(&d[18]));
      const auto h = static_cast<int32_t>(le32(&d[22]));
      return ImageSize{std::llabs(w), std::llabs(h)};
    }
    case ImageFormat::gif:
      if (d.size() < 10) return std::nullopt;
      return ImageSize{le16(&d[6]), le16(&d[8])};
    case ImageFormat::webp: return webp_size(d);
    case ImageFormat::tiff: return tiff_size(d);
    case ImageFormat::jpeg:
    case ImageFormat::unknown: break;
  }
  return std::nullopt;
}

}  // namespace imgprep

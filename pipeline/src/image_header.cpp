#include "imgprep/pipeline/image_header.h"

#include <cstdlib>

namespace imgprep {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | p[2] << 16 | p[1] << 8 | p[0]; }
uint16_t le16(const uint8_t* p) { return uint16_t(p[1] << 8 | p[0]); }
uint32_t le24(const uint8_t* p) { return uint32_t(p[2]) << 16 | p[1] << 8 | p[0]; }

std::optional<ImageSize> tiff_size(std::span<const uint8_t> d) {
  if (d.size() < 8) return std::nullopt;
  const bool little = d[0] == 'I';
  auto u16 = [&](size_t at) -> uint32_t {
    return little ? le16(&d[at]) : uint16_t(d[at] << 8 | d[at + 1]);
  };
  auto u32 = [&](size_t at) -> uint32_t { return little ? le32(&d[at]) : be32(&d[at]); };
  const size_t ifd = u32(4);
  if (ifd + 2 > d.size()) return std::nullopt;
  const uint32_t entries = u16(ifd);
  ImageSize size;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > d.size()) return std::nullopt;
    const uint32_t tag = u16(e), type = u16(e + 2);
    const uint32_t value = type == 3 ? u16(e + 8) : u32(e + 8);
    if (tag == 256) size.width = value;
    if (tag == 257) size.height = value;
  }
  if (size.width == 0 || size.height == 0) return std::nullopt;
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

}  // namespace

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

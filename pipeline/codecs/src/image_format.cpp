#include "imgprep/codecs/image_format.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <string>

namespace imgprep {
namespace {

bool starts_with(std::span<const uint8_t> head, const char* magic, size_t n, size_t at = 0) {
  return head.size() >= at + n && std::memcmp(head.data() + at, magic, n) == 0;
}

}  // namespace

ImageFormat sniff_format(std::span<const uint8_t> head) {
  if (starts_with(head, "\xFF\xD8\xFF", 3)) return ImageFormat::jpeg;
  if (starts_with(head, "\x89PNG\r\n\x1A\n", 8)) return ImageFormat::png;
  // BMP: "BM", the file size, then four reserved zero bytes.
  if (starts_with(head, "BM", 2) && starts_with(head, "\0\0\0\0", 4, 6)) return ImageFormat::bmp;
  if (starts_with(head, "RIFF", 4) && starts_with(head, "WEBP", 4, 8)) return ImageFormat::webp;
  if (starts_with(head, "II*\0", 4) || starts_with(head, "MM\0*", 4)) return ImageFormat::tiff;
  if (starts_with(head, "GIF87a", 6) || starts_with(head, "GIF89a", 6)) return ImageFormat::gif;
  return ImageFormat::unknown;
}

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::png: return "PNG";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::webp: return "WebP";
    case ImageFormat::tiff: return "TIFF";
    case ImageFormat::gif: return "GIF";
    case ImageFormat::unknown: break;
  }
  return "unknown";
}

std::optional<ImageFormat> sniff_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  uint8_t head[kSniffBytes] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  return sniff_format({head, static_cast<size_t>(in.gcount())});
}

ImageFormat format_from_extension(const std::filesystem::path& path) {
  struct Named {
    const char* extension;
    ImageFormat format;
  };
  static constexpr std::array<Named, 8> kExtensions = {{{".jpg", ImageFormat::jpeg},
                                                        {".jpeg", ImageFormat::jpeg},
                                                        {".png", ImageFormat::png},
                                                        {".bmp", ImageFormat::bmp},
                                                        {".webp", ImageFormat::webp},
                                                        {".tif", ImageFormat::tiff},
                                                        {".tiff", ImageFormat::tiff},
                                                        {".gif", ImageFormat::gif}}};
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const Named& named : kExtensions)
    if (ext == named.extension) return named.format;
  return ImageFormat::unknown;
}

bool has_image_extension(const std::filesystem::path& path) {
  return format_from_extension(path) != ImageFormat::unknown;
}

}  // namespace imgprep

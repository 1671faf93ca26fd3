// Recognises image files by their first bytes and by their extension.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace imgprep {

enum class ImageFormat { unknown, jpeg, png, bmp, webp, tiff, gif };

// Bytes needed by sniff_format.
inline constexpr size_t kSniffBytes = 16;

ImageFormat sniff_format(std::span<const uint8_t> head);
const char* format_name(ImageFormat format);
// .jpg .jpeg .png .bmp .webp .tif .tiff .gif, any case.
bool has_image_extension(const std::filesystem::path& path);

}  // namespace imgprep

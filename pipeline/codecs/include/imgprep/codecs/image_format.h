// Recognises image files by their first bytes and by their extension.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>

namespace imgprep {

enum class ImageFormat { unknown, jpeg, png, bmp, webp, tiff, gif };

// Bytes needed by sniff_format.
inline constexpr size_t kSniffBytes = 16;

ImageFormat sniff_format(std::span<const uint8_t> head);
// sniff_format of a file's first bytes; nullopt when the file cannot be opened.
std::optional<ImageFormat> sniff_file(const std::filesystem::path& path);
const char* format_name(ImageFormat format);
// The format its extension names: .jpg .jpeg .png .bmp .webp .tif .tiff .gif, any case;
// unknown for any other.
ImageFormat format_from_extension(const std::filesystem::path& path);
bool has_image_extension(const std::filesystem::path& path);

}  // namespace imgprep

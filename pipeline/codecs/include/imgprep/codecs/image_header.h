// Reads image dimensions from the first bytes of PNG, BMP, GIF, WebP and TIFF files, and from a
// JPEG's frame header, so that oversized images are refused before a decoder allocates them (or
// before the rest of the file is read). Pure, thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "imgprep/codecs/image_format.h"

namespace imgprep {

struct ImageSize {
  int64_t width = 0;
  int64_t height = 0;
  // Why the decoders would read this image's pixels wrong (a TIFF layout OpenCV misreads), so
  // it must be refused; nullptr when nothing is known against it.
  const char* unsupported = nullptr;
  // Decodes right only where every pixel is opaque (8-bit colour with unassociated alpha in a
  // TIFF: libtiff's RGBA reader premultiplies the colour by the alpha).
  bool opaque_only = false;
};

// nullopt when the header is too short or malformed to tell.
std::optional<ImageSize> read_image_size(ImageFormat format, std::span<const uint8_t> data);

// Gives the n bytes at offset `at` of a file into dst; false when they are not all there.
using ReadAt = std::function<bool(uint64_t at, uint8_t* dst, size_t n)>;
// A JPEG's size from its frame header (SOFn), found by walking the marker segments after SOI
// (a few bytes read per segment); nullopt when the walk does not get there.
std::optional<ImageSize> read_jpeg_size(const ReadAt& read);

// "image is WxH = N pixels, over --max-pixels M" for an image over the limit; empty otherwise.
std::string pixel_limit_error(int64_t width, int64_t height, uint64_t max_pixels);

}  // namespace imgprep

// Reads image dimensions from the first bytes of PNG, BMP, GIF, WebP and TIFF files, so that
// oversized images are refused before a decoder allocates them. Pure, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "imgprep/datasets/image_format.h"

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

}  // namespace imgprep

// OpenCV's codecs (BMP, WebP, TIFF decoding; JPEG/PNG/WebP encoding for --format images),
// loaded from the plugin beside the executable the first time they are needed.
// Thread-safe. Failures throw std::runtime_error with the reason.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "imgprep/pipeline/bytes.h"

namespace imgprep {

// Decodes to 8-bit RGBX in pixels; returns {width, height}.
std::pair<int, int> opencv_decode(std::span<const uint8_t> bytes, Bytes& pixels);
// Encodes 8-bit BGR pixels as ext (".jpg", ".png", ".webp") into out.
void opencv_encode(const uint8_t* bgr, int width, int height, const std::string& ext,
                   int quality, Bytes& out);

}  // namespace imgprep

// OpenCV's codecs (BMP, WebP, TIFF decoding; JPEG/PNG/WebP encoding for --format images),
// loaded from the plugin libimgprep_opencv_codecs.so the first time they are needed: from
// PREFIX/lib/imgprep for PREFIX/bin/imgprep, beside the executable, or the loader's path.
// Thread-safe. Failures throw std::runtime_error with the reason (DecodeError when decoding).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "imgprep/codecs/image_format.h"
#include "imgprep/codecs/bytes.h"

namespace imgprep {

// Loads the plugin now; throws if it cannot be loaded, saying where it was looked for and why.
void require_opencv_codecs();
// Whether images of this format are decoded by the plugin (BMP, WebP, TIFF).
bool opencv_decodes(ImageFormat format);
// Decodes an image of `format` to 8-bit RGBX in pixels; returns {width, height}. Throws
// DecodeError ("cannot decode FORMAT: " and the reason, the plugin's load failure included).
std::pair<int, int> opencv_decode(std::span<const uint8_t> bytes, ImageFormat format,
                                  Bytes& pixels);
// Encodes 8-bit BGR pixels as ext (".jpg", ".png", ".webp") into out.
void opencv_encode(const uint8_t* bgr, int width, int height, const std::string& ext,
                   int quality, Bytes& out);

}  // namespace imgprep

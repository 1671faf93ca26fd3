// PNG through libpng, straight to 8-bit RGBX: palettes expanded, gray replicated, 16-bit samples
// reduced to their high byte, alpha kept in X. libpng's warnings are collected, never printed.
// Thread-safe (all state is per call).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "imgprep/codecs/bytes.h"

namespace imgprep {

struct PngResult {
  int width = 0, height = 0;
  std::string warning;  // libpng warnings for an image that decoded
  std::string icc_profile;  // the iCCP chunk's profile (when asked for), or empty
};

// pixels is resized to width * height * 4; rows is scratch; icc_profile: also return the
// colour profile. Throws DecodeError ("PNG: " and libpng's message).
PngResult decode_png(std::span<const uint8_t> bytes, Bytes& pixels,
                     std::vector<uint8_t*>& rows, bool icc_profile);

}  // namespace imgprep

// ICC colour profiles carried from an input file to an image output, as libvips does: the
// decoders read the embedded profile (JPEG APP2 ICC_PROFILE segments, PNG iCCP), and
// embed_icc_profile writes it into the bytes an encoder produced (JPEG APP2 segments, a PNG
// iCCP chunk, a WebP ICCP chunk), so OpenCV stays the encoder. Pure functions, thread-safe.
#pragma once

#include <string>

#include "imgprep/codecs/bytes.h"

namespace imgprep {

// Whether profile describes RGB data. The outputs are always RGB, while the pixels of a gray or
// CMYK input are converted without its profile: such a profile would be wrong on the output.
bool is_rgb_icc_profile(const std::string& profile);

// Inserts profile into file, an image encoded by OpenCV as ext (".jpg", ".png", ".webp") of
// width x height pixels. Throws std::runtime_error when the file's layout is not the one the
// encoder writes or the profile cannot be stored (over 255 JPEG segments).
void embed_icc_profile(Bytes& file, const std::string& ext, int width, int height,
                       const std::string& profile);

}  // namespace imgprep

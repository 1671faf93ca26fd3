// Decodes encoded image bytes into 8-bit RGBX pixels (4 bytes a pixel, X unspecified).
// JPEG goes through TurboJPEG, with EXIF orientation and shrink-on-load at 1/2, 1/4, 1/8;
// PNG through libpng; BMP, WebP and TIFF through OpenCV. A Decoder is used by one thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "imgprep/datasets/image_format.h"
#include "imgprep/kernels/geometry.h"

namespace imgprep {

struct DecodeOptions {
  bool exif = true;
  bool shrink_on_load = true;
  uint64_t max_pixels = 178956970;
  ResizeSpec resize;  // shrink-on-load only picks scales that still cover this
  CropSpec crop;
};

struct DecodedImage {
  std::vector<uint8_t> pixels;  // RGBX, rows of width * 4 bytes
  int width = 0, height = 0;
  // The original image's size, upright (after EXIF orientation); 0 when unknown.
  int source_width = 0, source_height = 0;
  // The original image's extent in decoded pixels (source / shrink factor).
  double extent_w = 0, extent_h = 0;
  int shrink = 1;        // 1, 2, 4 or 8
  std::string warning;   // decoder warnings for an image that decoded
};

// The image cannot be used; what() is the reason for the manifest.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Once per process, before decoding: applies max_pixels to OpenCV's own limit, silences
// OpenCV's logging (its messages become DecodeErrors instead) and keeps OpenCV single-threaded.
void configure_codecs(uint64_t max_pixels);

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Fills out (reusing its buffers) or throws DecodeError. out.source_width/height are set as
  // soon as the header is read, so they are known for some failed images too.
  void decode(std::span<const uint8_t> bytes, const DecodeOptions& options, DecodedImage& out);

  // The largest power-of-two reduction (1, 2, 4, 8) at which a width x height image still covers
  // the resized size that options ask for; 1 when shrink-on-load is off or nothing is resized.
  static int shrink_factor(int width, int height, const DecodeOptions& options);

 private:
  void decode_jpeg(std::span<const uint8_t> bytes, const DecodeOptions& options,
                   DecodedImage& out);
  void decode_other(std::span<const uint8_t> bytes, ImageFormat format, DecodedImage& out);

  void* tj_ = nullptr;          // tjhandle
  std::vector<uint8_t> spare_;  // scratch for CMYK and orientation
  std::vector<uint8_t*> png_rows_;
};

}  // namespace imgprep

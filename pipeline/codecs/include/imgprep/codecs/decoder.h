// Decodes encoded image bytes into 8-bit RGBX pixels (4 bytes a pixel, X unspecified).
// JPEG goes through libjpeg-turbo, with EXIF orientation, shrink-on-load at 1/2, 1/4, 1/8 and
// decoding of only the region a crop keeps; PNG through libpng; BMP, WebP, TIFF through
// OpenCV's codecs plugin (TIFF layouts it misreads are refused from the header).
// A Decoder is used by one thread at a time; nothing of one image affects the next.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "imgprep/codecs/image_format.h"
#include "imgprep/kernels/geometry.h"
#include "imgprep/codecs/bytes.h"

namespace imgprep {

// Shrink-on-load: decoding a JPEG at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling) when
// the resize makes it smaller anyway. The scaled decode filters differently from the resize, so
// `max` (the smallest scale that still covers the resized size) is fastest but visibly off;
// `automatic` stops kReducingGap times above the resized size, where the exact antialiased
// resize still does most of the reduction and the output stays within a level or so.
enum class ShrinkOnLoad { off, automatic, max };

struct DecodeOptions {
  bool exif = true;
  ShrinkOnLoad shrink_on_load = ShrinkOnLoad::automatic;
  uint64_t max_pixels = 178956970;
  ResizeSpec resize;  // shrink-on-load only picks scales that still cover this
  CropSpec crop;
  // Read the colour profile (JPEG APP2, PNG iCCP) into DecodedImage::icc_profile; only image
  // outputs keep it, so tensors never pay for it.
  bool icc_profile = false;
};

// What the header says, upright (after EXIF orientation).
struct ImageInfo {
  ImageFormat format = ImageFormat::unknown;
  int width = 0, height = 0;                  // the original image
  int shrink = 1;                             // 1, 2, 4 or 8
  int decoded_width = 0, decoded_height = 0;  // the decoded image: ceil(size / shrink)
  double extent_w = 0, extent_h = 0;          // the original's extent in decoded pixels
};

// A rectangle of the decoded image, upright.
struct Region {
  int x = 0, y = 0, width = 0, height = 0;
};

struct DecodedImage {
  Bytes pixels;  // RGBX, rows of width * 4 bytes
  int width = 0, height = 0;
  // Where pixels' (0, 0) lies in the whole decoded image (non-zero for a region decode).
  int origin_x = 0, origin_y = 0;
  // The original image's size, upright; 0 when unknown.
  int source_width = 0, source_height = 0;
  double extent_w = 0, extent_h = 0;  // as ImageInfo
  int shrink = 1;
  std::string warning;  // decoder warnings for an image that decoded
  // The embedded ICC colour profile (JPEG, PNG; BMP, WebP and TIFF ones are not read), or empty.
  std::string icc_profile;
};

// How a JPEG is coded, from its header: what decides whether a GPU's JPEG decoder can take it.
struct JpegLayout {
  bool progressive = false;
  bool arithmetic = false;   // arithmetic rather than Huffman coding
  bool single_scan = false;  // sequential, every component in the first scan
  int precision = 8;         // bits per sample
  int components = 0;
  bool cmyk = false;         // CMYK or YCCK
  struct Sampling {
    int h = 0, v = 0;
  };
  Sampling sampling[3];      // the first three components' sampling factors
  bool complete = false;     // the end-of-image marker is there: not cut short
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

  // Reads the header of bytes (which must outlive the decode call) and refuses images over
  // max_pixels before anything is allocated. Throws DecodeError.
  ImageInfo open(std::span<const uint8_t> bytes, const DecodeOptions& options);
  // What the last open() learned, also when it threw (the size of a refused image, say).
  const ImageInfo& info() const { return info_; }
  // After open() of a JPEG: how it is coded, and its EXIF orientation (1 when ignored).
  JpegLayout jpeg_layout() const;
  int orientation() const { return orientation_; }
  // After open() of a JPEG with DecodeOptions::icc_profile: its colour profile (as decode()
  // would give it), for pixels decoded elsewhere.
  const std::string& jpeg_icc_profile() const;
  // Decodes the opened image into out (reusing its buffers): at least `region`, or all of it.
  // Once per open(): a JPEG's reader is spent afterwards. Throws DecodeError.
  void decode(DecodedImage& out, std::optional<Region> region = std::nullopt);
  // open() and decode() of the whole image; out.source_width/height are set as soon as the
  // header is read, so they are known for some failed images too.
  void decode(std::span<const uint8_t> bytes, const DecodeOptions& options, DecodedImage& out);

  // How much smaller than the resize asks for a JPEG must stay, in each direction, to be
  // decoded at a reduced scale under ShrinkOnLoad::automatic (Pillow's reducing_gap). Against
  // a full decode on real photos, 4 keeps every pixel within 4 levels (99.9% within 1); 3 left
  // up to 8 levels and 2 up to 19.
  static constexpr int kReducingGap = 4;
  // The largest power-of-two reduction (1, 2, 4, 8) at which a width x height image still covers
  // the resized size that options ask for (kReducingGap times it, under automatic); 1 when
  // shrink-on-load is off or nothing is resized.
  static int shrink_factor(int width, int height, const DecodeOptions& options);

 private:
  struct Jpeg;
  void open_jpeg(const DecodeOptions& options);
  void decode_jpeg(DecodedImage& out, const std::optional<Region>& region);
  void decode_png(DecodedImage& out);
  void decode_other(DecodedImage& out);

  std::unique_ptr<Jpeg> jpeg_;
  std::span<const uint8_t> bytes_;
  ImageInfo info_;
  int orientation_ = 1;
  bool opaque_only_ = false;  // see ImageSize::opaque_only
  bool icc_profile_ = false;  // DecodeOptions::icc_profile of the open image
  Bytes spare_;  // scratch for CMYK and orientation
  std::vector<uint8_t*> rows_;
};

}  // namespace imgprep

#include "imgprep/codecs/decoder.h"

#include <libexif/exif-data.h>

#include <algorithm>
#include <cstdlib>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>

#include "imgprep/codecs/image_header.h"
#include "imgprep/codecs/opencv_codecs.h"
#include "imgprep/codecs/png_decoder.h"
#include "jpeg_reader.h"

namespace imgprep {

struct Decoder::Jpeg {
  JpegReader reader;
};

namespace {

int exif_orientation(std::span<const uint8_t> exif) {
  if (exif.empty()) return 1;
  ExifData* data = exif_data_new_from_data(exif.data(), static_cast<unsigned>(exif.size()));
  if (!data) return 1;
  int orientation = 1;
  if (ExifEntry* e = exif_data_get_entry(data, EXIF_TAG_ORIENTATION);
      e && e->format == EXIF_FORMAT_SHORT && e->components >= 1)
    orientation = exif_get_short(e->data, exif_data_get_byte_order(data));
  exif_data_unref(data);
  return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

// Rotates/flips an RGBX image upright for an EXIF orientation 2..8, using spare as scratch.
void apply_orientation(int orientation, DecodedImage& img, Bytes& spare) {
  if (orientation == 1) return;
  const bool swap = orientation >= 5;
  const int out_w = swap ? img.height : img.width, out_h = swap ? img.width : img.height;
  spare.resize(static_cast<size_t>(out_w) * out_h * 4);
  const cv::Mat src(img.height, img.width, CV_8UC4, img.pixels.data());
  cv::Mat dst(out_h, out_w, CV_8UC4, spare.data());
  switch (orientation) {
    case 2: cv::flip(src, dst, 1); break;
    case 3: cv::rotate(src, dst, cv::ROTATE_180); break;
    case 4: cv::flip(src, dst, 0); break;
    case 5: cv::transpose(src, dst); break;
    case 6: cv::rotate(src, dst, cv::ROTATE_90_CLOCKWISE); break;
    case 7:
      cv::transpose(src, dst);
      cv::flip(dst, dst, -1);
      break;
    case 8: cv::rotate(src, dst, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    default: return;
  }
  img.pixels.swap(spare);
  img.width = out_w;
  img.height = out_h;
}

// Pillow's CMYK -> RGB: (255 - C)(255 - K) / 255 with its rounding, from inverted samples.
uint8_t cmyk_channel(int inverted_c, int inverted_k) {
  const int c = 255 - inverted_c, nk = inverted_k;
  const int t = c * nk + 128;
  return static_cast<uint8_t>(std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255));
}

void cmyk_to_rgbx(const uint8_t* cmyk, size_t pixels, bool adobe, uint8_t* rgbx) {
  const int inv = adobe ? 0 : 255;  // Adobe's marker means the samples are stored inverted
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* s = cmyk + i * 4;
    uint8_t* o = rgbx + i * 4;
    const int k = s[3] ^ inv;
    o[0] = cmyk_channel(s[0] ^ inv, k);
    o[1] = cmyk_channel(s[1] ^ inv, k);
    o[2] = cmyk_channel(s[2] ^ inv, k);
    o[3] = 255;
  }
}

void check_pixels(int64_t w, int64_t h, uint64_t max_pixels) {
  if (w <= 0 || h <= 0)
    throw DecodeError("invalid image size " + std::to_string(w) + "x" + std::to_string(h));
  if (std::string error = pixel_limit_error(w, h, max_pixels); !error.empty())
    throw DecodeError(error);
}

// The plan is made from the header's size before decoding, so a decoder that disagrees with the
// header (TIFF tags read differently by libtiff, say) would have it read outside the pixels.
void check_decoded_size(const DecodedImage& out, const ImageInfo& info) {
  if (out.width != info.decoded_width || out.height != info.decoded_height)
    throw DecodeError(std::string(format_name(info.format)) + ": decoded " +
                      std::to_string(out.width) + "x" + std::to_string(out.height) +
                      " pixels, but the header says " + std::to_string(info.decoded_width) +
                      "x" + std::to_string(info.decoded_height));
}

// Whether every pixel's X byte, which holds the alpha of images that have one, is 255.
bool all_opaque(const DecodedImage& img) {
  const size_t pixels = static_cast<size_t>(img.width) * img.height;
  for (size_t i = 0; i < pixels; ++i)
    if (img.pixels[i * 4 + 3] != 255) return false;
  return true;
}

void set_whole(DecodedImage& out, const ImageInfo& info) {
  out.origin_x = out.origin_y = 0;
  out.extent_w = info.extent_w;
  out.extent_h = info.extent_h;
  out.shrink = info.shrink;
}

}  // namespace

void configure_codecs(uint64_t max_pixels) {
  ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(max_pixels).c_str(), 1);
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  cv::setNumThreads(1);
}

Decoder::Decoder() : jpeg_(std::make_unique<Jpeg>()) {}
Decoder::~Decoder() = default;

int Decoder::shrink_factor(int width, int height, const DecodeOptions& options) {
  if (options.shrink_on_load == ShrinkOnLoad::off || options.resize.mode == ResizeMode::none)
    return 1;
  const Placement p = place(width, height, options.resize, options.crop);
  const int64_t gap = options.shrink_on_load == ShrinkOnLoad::max ? 1 : kReducingGap;
  for (int d : {8, 4, 2}) {
    const int64_t sw = (width + d - 1) / d, sh = (height + d - 1) / d;
    if (sw >= gap * p.resized_w && sh >= gap * p.resized_h) return d;
  }
  return 1;
}

ImageInfo Decoder::open(std::span<const uint8_t> bytes, const DecodeOptions& options) {
  bytes_ = bytes;
  info_ = ImageInfo{};
  orientation_ = 1;
  opaque_only_ = false;
  icc_profile_ = options.icc_profile;
  if (bytes.empty()) throw DecodeError("empty file");
  info_.format = sniff_format(bytes.first(std::min(bytes.size(), kSniffBytes)));
  switch (info_.format) {
    case ImageFormat::unknown: throw DecodeError("not a recognised image format");
    case ImageFormat::gif: throw DecodeError("GIF is not supported");
    case ImageFormat::jpeg:
      open_jpeg(options);
      return info_;
    default: break;
  }
  const std::optional<ImageSize> size = read_image_size(info_.format, bytes);
  if (!size)
    throw DecodeError(std::string("truncated or malformed ") + format_name(info_.format) +
                      " header");
  info_.width = static_cast<int>(std::min<int64_t>(size->width, INT32_MAX));
  info_.height = static_cast<int>(std::min<int64_t>(size->height, INT32_MAX));
  check_pixels(size->width, size->height, options.max_pixels);
  if (size->unsupported)
    throw DecodeError(std::string(format_name(info_.format)) + ": " + size->unsupported);
  opaque_only_ = size->opaque_only;
  info_.decoded_width = info_.width;
  info_.decoded_height = info_.height;
  info_.extent_w = info_.width;
  info_.extent_h = info_.height;
  return info_;
}

void Decoder::open_jpeg(const DecodeOptions& options) {
  JpegReader& r = jpeg_->reader;
  r.read_header(bytes_, options.icc_profile);
  orientation_ = options.exif ? exif_orientation(r.exif()) : 1;
  const bool swap = orientation_ >= 5;
  info_.width = swap ? r.height() : r.width();
  info_.height = swap ? r.width() : r.height();
  check_pixels(r.width(), r.height(), options.max_pixels);
  info_.shrink = shrink_factor(info_.width, info_.height, options);
  int w = 0, h = 0;
  r.prepare(info_.shrink, w, h);
  info_.decoded_width = swap ? h : w;
  info_.decoded_height = swap ? w : h;
  info_.extent_w = static_cast<double>(info_.width) / info_.shrink;
  info_.extent_h = static_cast<double>(info_.height) / info_.shrink;
}

const std::string& Decoder::jpeg_icc_profile() const { return jpeg_->reader.icc_profile(); }

JpegLayout Decoder::jpeg_layout() const {
  return info_.format == ImageFormat::jpeg ? jpeg_->reader.layout() : JpegLayout{};
}

void Decoder::decode(DecodedImage& out, std::optional<Region> region) {
  out.warning.clear();
  out.icc_profile.clear();
  out.source_width = info_.width;
  out.source_height = info_.height;
  set_whole(out, info_);
  switch (info_.format) {
    case ImageFormat::jpeg: return decode_jpeg(out, region);
    case ImageFormat::png: return decode_png(out);
    default: return decode_other(out);
  }
}

void Decoder::decode(std::span<const uint8_t> bytes, const DecodeOptions& options,
                     DecodedImage& out) {
  try {
    open(bytes, options);
  } catch (const DecodeError&) {
    out.source_width = info_.width;
    out.source_height = info_.height;
    throw;
  }
  decode(out);
}

void Decoder::decode_jpeg(DecodedImage& out, const std::optional<Region>& region) {
  JpegReader& r = jpeg_->reader;
  // Regions are read straight from the stored orientation, so only for upright images.
  Region want{0, 0, info_.decoded_width, info_.decoded_height};
  if (region && orientation_ == 1) {
    // One more iMCU left and right: at a cropped column edge libjpeg's chroma upsampling
    // replicates the edge instead of reading the neighbours, so edge columns would differ.
    constexpr int kMargin = 16;
    const int x0 = std::max(region->x - kMargin, 0);
    want.x = x0;
    want.width = std::min(region->x + region->width + kMargin, info_.decoded_width) - x0;
    // Rows: those above the region are skipped (their entropy-coded data is still read, and
    // libjpeg-turbo rebuilds the upsampling context, exactly since the skip starts at row 0);
    // below it nothing is decoded.
    want.y = region->y;
    want.height = std::min(region->y + region->height, info_.decoded_height) - want.y;
  }
  if (orientation_ >= 5) std::swap(want.width, want.height);
  const size_t row_bytes = static_cast<size_t>(orientation_ >= 5 ? info_.decoded_height
                                                                  : info_.decoded_width) * 4;
  const size_t bytes = row_bytes * want.height;
  const bool cmyk = r.cmyk();
  uint8_t* target = cmyk ? (spare_.resize(bytes), spare_.data())
                         : (out.pixels.resize(bytes), out.pixels.data());
  int x = want.x, w = want.width;
  r.read(x, w, want.y, want.y + want.height, target);
  if (r.truncated()) throw DecodeError("truncated JPEG: " + r.warnings());
  out.warning = r.warnings();
  out.icc_profile = r.icc_profile();
  out.width = w;
  out.height = want.height;
  out.origin_x = x;
  out.origin_y = want.y;
  const size_t pixels = static_cast<size_t>(out.width) * out.height;
  if (cmyk) {
    out.pixels.resize(pixels * 4);
    cmyk_to_rgbx(spare_.data(), pixels, r.adobe(), out.pixels.data());
  }
  apply_orientation(orientation_, out, spare_);
}

void Decoder::decode_png(DecodedImage& out) {
  PngResult png = imgprep::decode_png(bytes_, out.pixels, rows_, icc_profile_);
  out.width = png.width;
  out.height = png.height;
  out.warning = png.warning;
  out.icc_profile = std::move(png.icc_profile);
  check_decoded_size(out, info_);
}

void Decoder::decode_other(DecodedImage& out) {
  std::tie(out.width, out.height) = opencv_decode(bytes_, info_.format, out.pixels);
  check_decoded_size(out, info_);
  if (opaque_only_ && !all_opaque(out))
    throw DecodeError(std::string(format_name(info_.format)) +
                      ": 8-bit colour with unassociated alpha is supported only where every "
                      "pixel is opaque (transparent ones would come out premultiplied)");
}

}  // namespace imgprep

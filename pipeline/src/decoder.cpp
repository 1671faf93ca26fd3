#include "imgprep/pipeline/decoder.h"

#include <libexif/exif-data.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "imgprep/pipeline/image_header.h"
#include "imgprep/pipeline/png_decoder.h"

namespace imgprep {
namespace {

// What the JPEG's marker segments before the scan say that TurboJPEG does not report.
struct JpegMarkers {
  std::span<const uint8_t> exif;  // APP1 payload starting with "Exif\0\0"
  bool adobe = false;             // APP14 "Adobe": CMYK is stored inverted
};

JpegMarkers scan_jpeg_markers(std::span<const uint8_t> d) {
  JpegMarkers m;
  size_t pos = 2;
  while (pos + 4 <= d.size()) {
    if (d[pos] != 0xFF) break;
    const uint8_t marker = d[pos + 1];
    if (marker == 0xFF) {
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) break;  // start of scan, end of image
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      pos += 2;
      continue;
    }
    const size_t len = size_t(d[pos + 2]) << 8 | d[pos + 3];
    if (len < 2 || pos + 2 + len > d.size()) break;
    const std::span<const uint8_t> payload = d.subspan(pos + 4, len - 2);
    if (marker == 0xE1 && payload.size() >= 6 && std::memcmp(payload.data(), "Exif\0\0", 6) == 0)
      m.exif = payload;
    if (marker == 0xEE && payload.size() >= 5 && std::memcmp(payload.data(), "Adobe", 5) == 0)
      m.adobe = true;
    pos += 2 + len;
  }
  return m;
}

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
void apply_orientation(int orientation, DecodedImage& img, std::vector<uint8_t>& spare) {
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
  if (swap) std::swap(img.extent_w, img.extent_h);
}

// Pillow's CMYK -> RGB: (255 - C)(255 - K) / 255 with its rounding.
uint8_t cmyk_channel(int inverted_c, int inverted_k) {
  const int c = 255 - inverted_c, nk = inverted_k;
  const int t = c * nk + 128;
  return static_cast<uint8_t>(std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255));
}

void check_pixels(int64_t w, int64_t h, uint64_t max_pixels) {
  if (w <= 0 || h <= 0) throw DecodeError("invalid image size " + std::to_string(w) + "x" +
                                          std::to_string(h));
  if (static_cast<uint64_t>(w) * static_cast<uint64_t>(h) > max_pixels)
    throw DecodeError("image is " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                      std::to_string(w * h) + " pixels, over --max-pixels " +
                      std::to_string(max_pixels));
}

bool is_truncation(const char* message) {
  return std::strstr(message, "Premature end of JPEG file") != nullptr;
}

}  // namespace

void configure_codecs(uint64_t max_pixels) {
  ::setenv("OPENCV_IO_MAX_IMAGE_PIXELS", std::to_string(max_pixels).c_str(), 1);
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  cv::setNumThreads(1);
}

Decoder::Decoder() : tj_(tjInitDecompress()) {
  if (!tj_) throw std::runtime_error("cannot initialise TurboJPEG");
}

Decoder::~Decoder() { tjDestroy(tj_); }

int Decoder::shrink_factor(int width, int height, const DecodeOptions& options) {
  if (!options.shrink_on_load || options.resize.mode == ResizeMode::none) return 1;
  const Placement p = place(width, height, options.resize, options.crop);
  for (int d : {8, 4, 2}) {
    const int sw = (width + d - 1) / d, sh = (height + d - 1) / d;
    if (sw >= p.resized_w && sh >= p.resized_h) return d;
  }
  return 1;
}

void Decoder::decode(std::span<const uint8_t> bytes, const DecodeOptions& options,
                     DecodedImage& out) {
  out.warning.clear();
  out.source_width = out.source_height = 0;
  out.shrink = 1;
  const ImageFormat format = sniff_format(bytes.first(std::min(bytes.size(), kSniffBytes)));
  if (bytes.empty()) throw DecodeError("empty file");
  switch (format) {
    case ImageFormat::unknown: throw DecodeError("not a recognised image format");
    case ImageFormat::gif: throw DecodeError("GIF is not supported");
    case ImageFormat::jpeg: return decode_jpeg(bytes, options, out);
    default: break;
  }
  const std::optional<ImageSize> size = read_image_size(format, bytes);
  if (!size) throw DecodeError(std::string("truncated or malformed ") + format_name(format) +
                               " header");
  out.source_width = static_cast<int>(std::min<int64_t>(size->width, INT32_MAX));
  out.source_height = static_cast<int>(std::min<int64_t>(size->height, INT32_MAX));
  check_pixels(size->width, size->height, options.max_pixels);
  if (format != ImageFormat::png) return decode_other(bytes, format, out);
  const PngResult png = decode_png(bytes, out.pixels, png_rows_);
  if (!png.error.empty()) throw DecodeError("PNG: " + png.error);
  out.width = png.width;
  out.height = png.height;
  out.extent_w = out.width;
  out.extent_h = out.height;
  out.warning = png.warning;
}

void Decoder::decode_jpeg(std::span<const uint8_t> bytes, const DecodeOptions& options,
                          DecodedImage& out) {
  auto* data = const_cast<unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj_, data, size, &w, &h, &subsamp, &colorspace) != 0)
    throw DecodeError(std::string("invalid JPEG: ") + tjGetErrorStr2(tj_));
  const JpegMarkers markers = scan_jpeg_markers(bytes);
  const int orientation = options.exif ? exif_orientation(markers.exif) : 1;
  const bool swap = orientation >= 5;
  out.source_width = swap ? h : w;
  out.source_height = swap ? w : h;
  check_pixels(w, h, options.max_pixels);

  const int d = shrink_factor(out.source_width, out.source_height, options);
  const tjscalingfactor factor{1, d};
  out.shrink = d;
  out.width = TJSCALED(w, factor);
  out.height = TJSCALED(h, factor);
  out.extent_w = static_cast<double>(w) / d;
  out.extent_h = static_cast<double>(h) / d;
  const size_t pixels = static_cast<size_t>(out.width) * out.height;
  out.pixels.resize(pixels * 4);

  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  unsigned char* target = cmyk ? (spare_.resize(pixels * 4), spare_.data()) : out.pixels.data();
  const int rc = tjDecompress2(tj_, data, size, target, out.width, 0, out.height,
                               cmyk ? TJPF_CMYK : TJPF_RGBX, 0);
  if (rc != 0) {
    const char* message = tjGetErrorStr2(tj_);
    if (tjGetErrorCode(tj_) == TJERR_FATAL) throw DecodeError(std::string("JPEG: ") + message);
    if (is_truncation(message)) throw DecodeError(std::string("truncated JPEG: ") + message);
    out.warning = message;
  }
  if (cmyk) {
    for (size_t i = 0; i < pixels; ++i) {
      const uint8_t* s = &spare_[i * 4];
      uint8_t* o = &out.pixels[i * 4];
      const int inv = markers.adobe ? 0 : 255;  // without Adobe's marker CMYK is stored as is
      const int k = s[3] ^ inv;
      o[0] = cmyk_channel(s[0] ^ inv, k);
      o[1] = cmyk_channel(s[1] ^ inv, k);
      o[2] = cmyk_channel(s[2] ^ inv, k);
      o[3] = 255;
    }
  }
  apply_orientation(orientation, out, spare_);
}

void Decoder::decode_other(std::span<const uint8_t> bytes, ImageFormat format,
                           DecodedImage& out) {
  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U,
                         const_cast<uint8_t*>(bytes.data()));
    decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw DecodeError(std::string("cannot decode ") + format_name(format) + ": " + e.err);
  }
  if (decoded.empty())
    throw DecodeError(std::string("cannot decode ") + format_name(format) +
                      " data (truncated or corrupt)");
  if (decoded.depth() == CV_16U) {
    // 16-bit samples keep their high byte, as OpenCV's and Pillow's 8-bit conversions do.
    cv::Mat narrow(decoded.size(), CV_MAKETYPE(CV_8U, decoded.channels()));
    const size_t n = decoded.total() * decoded.channels();
    const uint16_t* s = decoded.ptr<uint16_t>();
    uint8_t* o = narrow.ptr<uint8_t>();
    for (size_t i = 0; i < n; ++i) o[i] = static_cast<uint8_t>(s[i] >> 8);
    decoded = narrow;
  } else if (decoded.depth() != CV_8U) {
    throw DecodeError(std::string("unsupported ") + format_name(format) + " sample type");
  }
  out.width = decoded.cols;
  out.height = decoded.rows;
  out.extent_w = out.width;
  out.extent_h = out.height;
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 4);
  cv::Mat rgbx(out.height, out.width, CV_8UC4, out.pixels.data());
  switch (decoded.channels()) {
    case 1: cv::cvtColor(decoded, rgbx, cv::COLOR_GRAY2RGBA); break;
    case 2: {
      cv::Mat gray;
      cv::extractChannel(decoded, gray, 0);
      cv::cvtColor(gray, rgbx, cv::COLOR_GRAY2RGBA);
      break;
    }
    case 3: cv::cvtColor(decoded, rgbx, cv::COLOR_BGR2RGBA); break;
    case 4: cv::cvtColor(decoded, rgbx, cv::COLOR_BGRA2RGBA); break;
    default: throw DecodeError("unsupported channel count");
  }
}

}  // namespace imgprep

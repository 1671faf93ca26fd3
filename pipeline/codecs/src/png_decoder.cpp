#include "imgprep/codecs/png_decoder.h"

#include <png.h>

#include <cstring>

#include "imgprep/codecs/decoder.h"

namespace imgprep {
namespace {

struct ReadState {
  std::span<const uint8_t> data;
  size_t pos = 0;
  PngResult* result = nullptr;
  std::string error;  // libpng's, once it failed
};

void on_error(png_structp png, png_const_charp message) {
  static_cast<ReadState*>(png_get_error_ptr(png))->error = message;
  png_longjmp(png, 1);
}

void on_warning(png_structp png, png_const_charp message) {
  std::string& warning = static_cast<ReadState*>(png_get_error_ptr(png))->result->warning;
  if (!warning.empty()) warning += "; ";
  warning += message;
}

void read_bytes(png_structp png, png_bytep out, size_t n) {
  auto* state = static_cast<ReadState*>(png_get_io_ptr(png));
  if (state->pos + n > state->data.size()) png_error(png, "truncated PNG data");
  std::memcpy(out, state->data.data() + state->pos, n);
  state->pos += n;
}

// Kept free of objects with destructors: libpng reports errors by longjmp.
bool read_png(png_structp png, png_infop info, Bytes& pixels,
              std::vector<uint8_t*>& rows, bool icc_profile, PngResult& result) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  png_charp icc_name = nullptr;
  int icc_compression = 0;
  png_bytep icc = nullptr;
  png_uint_32 icc_size = 0;
  if (icc_profile && png_get_iCCP(png, info, &icc_name, &icc_compression, &icc, &icc_size) == PNG_INFO_iCCP)
    result.icc_profile.assign(reinterpret_cast<const char*>(icc), icc_size);
  const png_byte color = png_get_color_type(png, info);
  png_set_expand(png);  // palette -> RGB, low-bit gray -> 8 bits, tRNS -> alpha
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_filler(png, 0xff, PNG_FILLER_AFTER);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  result.width = static_cast<int>(png_get_image_width(png, info));
  result.height = static_cast<int>(png_get_image_height(png, info));
  if (png_get_rowbytes(png, info) != static_cast<size_t>(result.width) * 4)
    png_error(png, "unexpected PNG row layout");
  pixels.resize(static_cast<size_t>(result.width) * result.height * 4);
  rows.resize(static_cast<size_t>(result.height));
  for (int y = 0; y < result.height; ++y) rows[y] = pixels.data() + static_cast<size_t>(y) * result.width * 4;
  png_read_image(png, rows.data());
  return true;
}

}  // namespace

PngResult decode_png(std::span<const uint8_t> bytes, Bytes& pixels,
                     std::vector<uint8_t*>& rows, bool icc_profile) {
  PngResult result;
  ReadState state{bytes, 0, &result, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw DecodeError("PNG: cannot initialise libpng");
  }
  png_set_read_fn(png, &state, read_bytes);
  const bool ok = read_png(png, info, pixels, rows, icc_profile, result);
  png_destroy_read_struct(&png, &info, nullptr);
  if (!ok) throw DecodeError("PNG: " + (state.error.empty() ? "corrupt PNG data" : state.error));
  return result;
}

}  // namespace imgprep

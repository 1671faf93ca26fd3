// libjpeg-turbo's libjpeg API behind a small C++ face: header, scaled output size, and decoding
// of a column/row window (jpeg_crop_scanline / jpeg_skip_scanlines, which TurboJPEG 2.1 lacks).
// Messages are collected, never printed. One reader per thread; reused across images, each of
// which read_header starts on a fresh decompressor (no tables carried over).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "imgprep/codecs/decoder.h"  // JpegLayout

namespace imgprep {

class JpegReader {
 public:
  JpegReader();
  ~JpegReader();
  JpegReader(const JpegReader&) = delete;
  JpegReader& operator=(const JpegReader&) = delete;

  // Each step throws DecodeError on a libjpeg error, with its message. icc_profile: also read
  // the colour profile (icc_profile() is empty otherwise).
  void read_header(std::span<const uint8_t> data, bool icc_profile);
  int width() const;
  int height() const;
  bool cmyk() const;   // CMYK or YCCK: decoded as 4-channel CMYK
  bool adobe() const;  // an Adobe APP14 marker: CMYK samples are stored inverted
  std::span<const uint8_t> exif() const;  // APP1 payload starting "Exif\0\0", or empty
  JpegLayout layout() const;  // how the image is coded (read_header's image)
  // The ICC profile from the APP2 ICC_PROFILE segments, or empty (also for malformed ones).
  const std::string& icc_profile() const;

  // Sets the scale 1/denom and the output colour (RGBX, or CMYK for cmyk()); gives the size.
  void prepare(int denom, int& out_width, int& out_height);
  // Decodes rows [y0, y1) of columns [x, x + w) into dst (4 bytes a pixel, rows packed).
  // x and w come back widened to what libjpeg decodes (whole iMCU columns). Rows above y0
  // are skipped in one jpeg_skip_scanlines from row 0 (libjpeg-turbo 2.1 resumes exactly only
  // after skips that start on a row-group boundary: its issue 915); reading stops after row
  // y1 - 1, and truncated() also covers the rows below it: a single-scan file without its
  // end-of-image marker is truncated whatever the window, and nothing is decoded.
  void read(int& x, int& w, int y0, int y1, uint8_t* dst);

  const std::string& warnings() const;
  bool truncated() const;  // the data ended before the rows that were read

  struct State;  // libjpeg's structures; defined in the .cpp

 private:
  std::unique_ptr<State> s_;
};

}  // namespace imgprep

#include "jpeg_reader.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "imgprep/codecs/decoder.h"

namespace imgprep {

struct JpegReader::State {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr err{};
  std::jmp_buf jump{};
  std::string message;
  std::string warnings;
  std::string icc_profile;
  bool truncated = false;
  std::span<const uint8_t> data;  // the image's bytes
  size_t scan_start = 0;          // where the first scan's entropy-coded data begins
};

namespace {

JpegReader::State& state_of(j_common_ptr cinfo) {
  return *static_cast<JpegReader::State*>(cinfo->client_data);
}

std::string format_message(j_common_ptr cinfo) {
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  return text;
}

void add_warning(JpegReader::State& s, const std::string& text) {
  if (s.warnings.size() >= 512) return;
  if (!s.warnings.empty()) s.warnings += "; ";
  s.warnings += text;
}

void on_error(j_common_ptr cinfo) {
  JpegReader::State& s = state_of(cinfo);
  s.message = format_message(cinfo);
  std::longjmp(s.jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  JpegReader::State& s = state_of(cinfo);
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) s.truncated = true;
  add_warning(s, format_message(cinfo));
}

void no_output(j_common_ptr) {}

// Whether bytes hold a JPEG end-of-image marker (FF D9). It is normally the last two bytes;
// data after it (padding, appended files) is searched from the end.
bool has_end_marker(std::span<const uint8_t> bytes) {
  for (size_t i = bytes.size(); i >= 2; --i)
    if (bytes[i - 2] == 0xFF && bytes[i - 1] == 0xD9) return true;
  return false;
}

// These call libjpeg, and return false on its error (s.message says why). They hold no objects
// with destructors between setjmp and the calls that may longjmp back.
bool start_image(JpegReader::State& s, std::span<const uint8_t> data, bool icc_profile) {
  s.warnings.clear();
  s.message.clear();
  s.truncated = false;
  s.icc_profile.clear();
  if (setjmp(s.jump)) {
    jpeg_abort_decompress(&s.cinfo);
    return false;
  }
  // A fresh decompressor for every image: libjpeg keeps quantisation and Huffman tables across
  // images, so a file lacking a DQT would decode with the previous image's tables instead of
  // failing, and one lacking a DHT (Motion JPEG) would get the previous image's tables instead
  // of the standard ones, which libjpeg loads only into empty slots. It costs microseconds.
  jpeg_destroy_decompress(&s.cinfo);
  jpeg_create_decompress(&s.cinfo);  // keeps err and client_data
  jpeg_save_markers(&s.cinfo, JPEG_APP0 + 1, 0xffff);
  if (icc_profile) jpeg_save_markers(&s.cinfo, JPEG_APP0 + 2, 0xffff);
  jpeg_mem_src(&s.cinfo, data.data(), static_cast<unsigned long>(data.size()));
  jpeg_read_header(&s.cinfo, TRUE);
  // Joins the segments in their numbered order; malformed ones give a warning and no profile.
  JOCTET* icc = nullptr;
  unsigned int icc_size = 0;
  if (icc_profile && jpeg_read_icc_profile(&s.cinfo, &icc, &icc_size)) {
    s.icc_profile.assign(reinterpret_cast<const char*>(icc), icc_size);
    std::free(icc);
  }
  s.data = data;
  s.scan_start = static_cast<size_t>(s.cinfo.src->next_input_byte - data.data());
  return true;
}

bool scale_output(JpegReader::State& s, int denom, bool cmyk, int& out_width, int& out_height) {
  if (setjmp(s.jump)) {
    jpeg_abort_decompress(&s.cinfo);
    return false;
  }
  s.cinfo.scale_num = 1;
  s.cinfo.scale_denom = static_cast<unsigned>(denom);
  s.cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGBX;
  jpeg_calc_output_dimensions(&s.cinfo);
  out_width = static_cast<int>(s.cinfo.output_width);
  out_height = static_cast<int>(s.cinfo.output_height);
  return true;
}

bool read_window(JpegReader::State& s, int& x, int& w, int y0, int y1, uint8_t* dst) {
  if (setjmp(s.jump)) {
    jpeg_abort_decompress(&s.cinfo);
    return false;
  }
  // A file cut short below the rows read would go unnoticed (libjpeg reads no further), yet it
  // is as damaged as one cut above them. So a single-scan file (multi-scan ones are read whole
  // by jpeg_start_decompress, which reports a cut) must hold its end-of-image marker after the
  // scan data, checked before decoding so that the verdict and its message are the same for
  // every window and scale. FF D9 cannot occur inside entropy-coded data.
  if (!jpeg_has_multiple_scans(&s.cinfo) &&
      !has_end_marker(s.data.subspan(std::min(s.scan_start, s.data.size())))) {
    s.truncated = true;
    add_warning(s, "Premature end of JPEG file: no end-of-image marker");
    return true;
  }
  jpeg_start_decompress(&s.cinfo);
  JDIMENSION xoff = static_cast<JDIMENSION>(x), cw = static_cast<JDIMENSION>(w);
  if (cw < s.cinfo.output_width) jpeg_crop_scanline(&s.cinfo, &xoff, &cw);
  if (y0 > 0) jpeg_skip_scanlines(&s.cinfo, static_cast<JDIMENSION>(y0));
  const size_t stride = static_cast<size_t>(cw) * 4;
  JSAMPROW rows[16];
  while (s.cinfo.output_scanline < static_cast<JDIMENSION>(y1)) {
    const JDIMENSION next = s.cinfo.output_scanline;
    const JDIMENSION n = std::min<JDIMENSION>(16, static_cast<JDIMENSION>(y1) - next);
    for (JDIMENSION i = 0; i < n; ++i) rows[i] = dst + (next - y0 + i) * stride;
    jpeg_read_scanlines(&s.cinfo, rows, n);
  }
  jpeg_abort_decompress(&s.cinfo);
  x = static_cast<int>(xoff);
  w = static_cast<int>(cw);
  return true;
}

}  // namespace

JpegReader::JpegReader() : s_(std::make_unique<State>()) {
  s_->cinfo.err = jpeg_std_error(&s_->err);
  s_->err.error_exit = on_error;
  s_->err.emit_message = on_message;
  s_->err.output_message = no_output;
  s_->cinfo.client_data = s_.get();
  // The decompressor itself is created by read_header, where its errors can be caught.
}

JpegReader::~JpegReader() { jpeg_destroy_decompress(&s_->cinfo); }

void JpegReader::read_header(std::span<const uint8_t> data, bool icc_profile) {
  if (!start_image(*s_, data, icc_profile)) throw DecodeError("invalid JPEG: " + s_->message);
}

int JpegReader::width() const { return static_cast<int>(s_->cinfo.image_width); }
int JpegReader::height() const { return static_cast<int>(s_->cinfo.image_height); }
bool JpegReader::cmyk() const {
  return s_->cinfo.jpeg_color_space == JCS_CMYK || s_->cinfo.jpeg_color_space == JCS_YCCK;
}
bool JpegReader::adobe() const { return s_->cinfo.saw_Adobe_marker; }

std::span<const uint8_t> JpegReader::exif() const {
  for (jpeg_saved_marker_ptr m = s_->cinfo.marker_list; m; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
        std::memcmp(m->data, "Exif\0\0", 6) == 0)
      return {m->data, m->data_length};
  return {};
}

JpegLayout JpegReader::layout() const {
  const jpeg_decompress_struct& c = s_->cinfo;
  JpegLayout layout;
  layout.progressive = c.progressive_mode;
  layout.arithmetic = c.arith_code;
  layout.single_scan = !c.progressive_mode && c.comps_in_scan == c.num_components;
  layout.precision = c.data_precision;
  layout.components = c.num_components;
  layout.cmyk = cmyk();
  for (int i = 0; i < std::min(c.num_components, 3); ++i)
    layout.sampling[i] = {c.comp_info[i].h_samp_factor, c.comp_info[i].v_samp_factor};
  // The end-of-image marker after the scans; trailing bytes after it (some cameras append
  // their own data) are looked through within the last 64 KiB.
  const std::span<const uint8_t> d = s_->data;
  const size_t from = std::max(s_->scan_start, d.size() - std::min<size_t>(d.size(), 65536));
  for (size_t i = d.size(); i >= from + 2; --i)
    if (d[i - 2] == 0xFF && d[i - 1] == 0xD9) {
      layout.complete = true;
      break;
    }
  return layout;
}

const std::string& JpegReader::icc_profile() const { return s_->icc_profile; }

void JpegReader::prepare(int denom, int& out_width, int& out_height) {
  if (!scale_output(*s_, denom, cmyk(), out_width, out_height))
    throw DecodeError("invalid JPEG: " + s_->message);
}

void JpegReader::read(int& x, int& w, int y0, int y1, uint8_t* dst) {
  if (!read_window(*s_, x, w, y0, y1, dst)) throw DecodeError("JPEG: " + s_->message);
}

const std::string& JpegReader::warnings() const { return s_->warnings; }
bool JpegReader::truncated() const { return s_->truncated; }

}  // namespace imgprep

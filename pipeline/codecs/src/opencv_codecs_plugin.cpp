#include "opencv_codecs_plugin.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <streambuf>
#include <string>
#include <vector>

namespace {

thread_local bool t_in_opencv = false;  // this thread is inside an OpenCV call

// Set while a thread runs OpenCV code.
struct InOpenCv {
  InOpenCv() { t_in_opencv = true; }
  ~InOpenCv() { t_in_opencv = false; }
  InOpenCv(const InOpenCv&) = delete;
  InOpenCv& operator=(const InOpenCv&) = delete;
};

// Placed in front of std::cerr's buffer: drops what a thread writes while inside an OpenCV
// call and passes everything else (the program's own messages) through unbuffered.
class QuietInsideOpenCv : public std::streambuf {
 public:
  explicit QuietInsideOpenCv(std::streambuf* next) : next_(next) {}

 protected:
  int_type overflow(int_type c) override {
    if (t_in_opencv || traits_type::eq_int_type(c, traits_type::eof()))
      return traits_type::not_eof(c);
    return next_->sputc(traits_type::to_char_type(c));
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    return t_in_opencv ? n : next_->sputn(s, n);
  }
  int sync() override { return next_->pubsync(); }

 private:
  std::streambuf* next_;
};

// OpenCV's messages become the caller's errors, never terminal output. Its logger is silenced;
// imdecode also writes some failures ("imdecode_('...'): can't read header: ...") straight to
// std::cerr, which the filter keeps off the terminal. The filter is never freed: std::cerr may
// be used until the very end of the process.
const bool kQuiet = [] {
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  std::cerr.rdbuf(new QuietInsideOpenCv(std::cerr.rdbuf()));
  return true;
}();

int fail(char* error, size_t size, const std::string& message) {
  std::snprintf(error, size, "%s", message.c_str());
  return 1;
}

// The largest side each output format's encoder writes: WebP's 14-bit sizes and libjpeg's
// JPEG_MAX_DIMENSION (below the 65535 of the format). PNG's limit is far above any output size.
struct SideLimit {
  const char* ext;
  const char* name;
  int max_side;
};
constexpr SideLimit kSideLimits[] = {{".webp", "WebP", 16383}, {".jpg", "JPEG", 65500}};

// Why width x height cannot be encoded as ext, or "".
std::string size_problem(const char* ext, int width, int height) {
  for (const SideLimit& limit : kSideLimits)
    if (std::strcmp(ext, limit.ext) == 0 && std::max(width, height) > limit.max_side)
      return std::string(limit.name) + " images are at most " + std::to_string(limit.max_side) +
             " pixels a side; this one is " + std::to_string(width) + "x" +
             std::to_string(height);
  return "";
}

}  // namespace

extern "C" int imgprep_cv_decode(const uint8_t* data, size_t size, imgprep_alloc_fn alloc,
                                 void* context, int* width, int* height, char* error,
                                 size_t error_size) {
  const InOpenCv quiet;
  try {
    const cv::Mat buffer(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    cv::Mat decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
    if (decoded.empty()) return fail(error, error_size, "truncated or corrupt data");
    if (decoded.depth() == CV_16U) {
      cv::Mat narrow(decoded.size(), CV_MAKETYPE(CV_8U, decoded.channels()));
      const size_t n = decoded.total() * decoded.channels();
      const uint16_t* s = decoded.ptr<uint16_t>();
      uint8_t* o = narrow.ptr<uint8_t>();
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<uint8_t>(s[i] >> 8);
      decoded = narrow;
    } else if (decoded.depth() != CV_8U) {
      return fail(error, error_size, "unsupported sample type");
    }
    uint8_t* out = alloc(context, decoded.total() * 4);
    if (!out) return fail(error, error_size, "out of memory");
    cv::Mat rgbx(decoded.rows, decoded.cols, CV_8UC4, out);
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
      default: return fail(error, error_size, "unsupported channel count");
    }
    *width = decoded.cols;
    *height = decoded.rows;
    return 0;
  } catch (const cv::Exception& e) {
    return fail(error, error_size, e.err);
  } catch (const std::exception& e) {
    return fail(error, error_size, e.what());
  }
}

extern "C" int imgprep_cv_encode(const uint8_t* bgr, int width, int height, const char* ext,
                                 int quality, imgprep_alloc_fn alloc, void* context, char* error,
                                 size_t error_size) {
  const InOpenCv quiet;
  try {
    const std::string too_large = size_problem(ext, width, height);
    if (!too_large.empty()) return fail(error, error_size, too_large);
    const cv::Mat pixels(height, width, CV_8UC3, const_cast<uint8_t*>(bgr));
    std::vector<int> params;
    if (std::strcmp(ext, ".jpg") == 0) params = {cv::IMWRITE_JPEG_QUALITY, quality};
    if (std::strcmp(ext, ".webp") == 0) params = {cv::IMWRITE_WEBP_QUALITY, quality};
    std::vector<uint8_t> encoded;
    if (!cv::imencode(ext, pixels, encoded, params))
      return fail(error, error_size, std::string("cannot encode ") + ext);
    uint8_t* out = alloc(context, encoded.size());
    if (!out) return fail(error, error_size, "out of memory");
    std::memcpy(out, encoded.data(), encoded.size());
    return 0;
  } catch (const cv::Exception& e) {
    return fail(error, error_size, e.err);
  } catch (const std::exception& e) {
    return fail(error, error_size, e.what());
  }
}

#include "imgprep/pipeline/opencv_codecs.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "opencv_codecs_plugin.h"

namespace imgprep {
namespace {

constexpr const char* kPlugin = "libimgprep_opencv_codecs.so";

struct Plugin {
  decltype(&imgprep_cv_decode) decode = nullptr;
  decltype(&imgprep_cv_encode) encode = nullptr;
  std::string error;
};

// Next to the executable first (build/bin, or an install's bin), then the loader's search path.
const Plugin& plugin() {
  static Plugin p;
  static std::once_flag once;
  std::call_once(once, [] {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    void* handle = nullptr;
    if (!ec) handle = dlopen((exe.parent_path() / kPlugin).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) handle = dlopen(kPlugin, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      p.error = std::string("OpenCV codecs unavailable: ") + dlerror();
      return;
    }
    p.decode = reinterpret_cast<decltype(p.decode)>(dlsym(handle, "imgprep_cv_decode"));
    p.encode = reinterpret_cast<decltype(p.encode)>(dlsym(handle, "imgprep_cv_encode"));
    if (!p.decode || !p.encode) p.error = std::string("OpenCV codecs plugin is incomplete");
  });
  if (!p.error.empty()) throw std::runtime_error(p.error);
  return p;
}

// No exception may cross the plugin's C interface: running out of memory refuses (nullptr).
uint8_t* grow(void* context, size_t size) noexcept {
  auto* buffer = static_cast<Bytes*>(context);
  try {
    buffer->resize(size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return buffer->data();
}

}  // namespace

std::pair<int, int> opencv_decode(std::span<const uint8_t> bytes, Bytes& pixels) {
  char error[256] = {};
  int width = 0, height = 0;
  if (plugin().decode(bytes.data(), bytes.size(), grow, &pixels, &width, &height, error,
                      sizeof error) != 0)
    throw std::runtime_error(error);
  return {width, height};
}

void opencv_encode(const uint8_t* bgr, int width, int height, const std::string& ext,
                   int quality, Bytes& out) {
  char error[256] = {};
  if (plugin().encode(bgr, width, height, ext.c_str(), quality, grow, &out, error,
                      sizeof error) != 0)
    throw std::runtime_error(error);
}

}  // namespace imgprep

#include "imgprep/codecs/opencv_codecs.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "imgprep/codecs/binary_path.h"
#include "imgprep/codecs/decoder.h"
#include "opencv_codecs_plugin.h"

namespace imgprep {
namespace {

constexpr const char* kPlugin = "libimgprep_opencv_codecs.so";

struct Plugin {
  decltype(&imgprep_cv_decode) decode = nullptr;
  decltype(&imgprep_cv_encode) encode = nullptr;
  std::string error;
};

// Where the plugin may be, in order: an install's PREFIX/lib/imgprep for PREFIX/bin/imgprep,
// then beside the binary holding this code (the build tree's bin, the Python package), both
// from its real path (so a copied or symlinked install works), then the loader's search path.
std::vector<std::filesystem::path> plugin_folders() {
  const std::filesystem::path binary = this_binary();
  if (binary.empty()) return {};
  return {binary.parent_path().parent_path() / "lib" / "imgprep", binary.parent_path()};
}

// Loads the first plugin found; the reason it cannot be loaded is that of the first file that
// exists (a missing library it needs, say), else the loader's.
void* load_plugin(std::string& error) {
  std::string looked_in, reason;
  for (const std::filesystem::path& folder : plugin_folders()) {
    const std::filesystem::path file = folder / kPlugin;
    if (void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
    const std::string why = dlerror();
    if (reason.empty() && std::filesystem::exists(file)) reason = why;
    looked_in += folder.string() + ", ";
  }
  if (void* handle = dlopen(kPlugin, RTLD_NOW | RTLD_LOCAL)) return handle;
  const std::string why = dlerror();
  if (reason.empty()) reason = why;
  error = std::string("cannot load the OpenCV codecs plugin ") + kPlugin + " (looked in " +
          looked_in + "then the loader's search path): " + reason;
  return nullptr;
}

// The plugin, loaded the first time; error says why when it could not be.
const Plugin& loaded_plugin() {
  static Plugin p;
  static std::once_flag once;
  std::call_once(once, [] {
    void* handle = load_plugin(p.error);
    if (!handle) return;
    p.decode = reinterpret_cast<decltype(p.decode)>(dlsym(handle, "imgprep_cv_decode"));
    p.encode = reinterpret_cast<decltype(p.encode)>(dlsym(handle, "imgprep_cv_encode"));
    if (!p.decode || !p.encode) p.error = std::string("OpenCV codecs plugin is incomplete");
  });
  return p;
}

const Plugin& plugin() {
  const Plugin& p = loaded_plugin();
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

void require_opencv_codecs() { plugin(); }

bool opencv_decodes(ImageFormat format) {
  return format == ImageFormat::bmp || format == ImageFormat::webp || format == ImageFormat::tiff;
}

std::pair<int, int> opencv_decode(std::span<const uint8_t> bytes, ImageFormat format,
                                  Bytes& pixels) {
  const auto cannot_decode = [format](const std::string& why) {
    return DecodeError(std::string("cannot decode ") + format_name(format) + ": " + why);
  };
  const Plugin& p = loaded_plugin();
  if (!p.error.empty()) throw cannot_decode(p.error);
  char error[256] = {};
  int width = 0, height = 0;
  if (p.decode(bytes.data(), bytes.size(), grow, &pixels, &width, &height, error, sizeof error) !=
      0)
    throw cannot_decode(error);
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

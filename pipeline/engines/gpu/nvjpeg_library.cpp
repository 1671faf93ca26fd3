#include "nvjpeg_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "imgprep/codecs/binary_path.h"
#include "imgprep/kernels/gpu_error.h"

namespace imgprep {
namespace {

constexpr const char* kFile = "libnvjpeg.so.13";

// Resolves every function of `handle` into `lib`; the name of the first one missing, or empty.
std::string resolve(void* handle, NvjpegLibrary& lib) {
#define IMGPREP_NVJPEG_RESOLVE(name)                                       \
  lib.name = reinterpret_cast<decltype(lib.name)>(dlsym(handle, #name)); \
  if (!lib.name) return #name;
  IMGPREP_NVJPEG_FUNCTIONS(IMGPREP_NVJPEG_RESOLVE)
#undef IMGPREP_NVJPEG_RESOLVE
  return {};
}

struct Loaded {
  NvjpegLibrary lib;
  std::string error;
};

Loaded load() {
  Loaded loaded;
  std::vector<std::string> candidates;
  if (const char* explicit_path = std::getenv("IMGPREP_NVJPEG_LIBRARY");
      explicit_path && *explicit_path)
    candidates.push_back(explicit_path);
  if (const std::filesystem::path binary = this_binary(); !binary.empty()) {
    candidates.push_back((binary.parent_path() / kFile).string());
    // An installed Python package: the nvidia-nvjpeg wheel's copy in the same site-packages.
    candidates.push_back(
        (binary.parent_path().parent_path() / "nvidia" / "cu13" / "lib" / kFile).string());
  }
  candidates.push_back(kFile);  // the loader's search path
  std::string tried;
  for (const std::string& candidate : candidates) {
    const bool bare = candidate == kFile;
    if (!bare && !std::filesystem::exists(candidate)) {
      tried += candidate + ": no such file; ";
      continue;
    }
    void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      tried += std::string(dlerror()) + "; ";
      continue;
    }
    const std::string missing = resolve(handle, loaded.lib);
    if (!missing.empty()) {
      tried += candidate + ": no " + missing + " (not nvJPEG of CUDA 13?); ";
      dlclose(handle);
      continue;
    }
    int major = 0, minor = 0, patch = 0;
    loaded.lib.nvjpegGetProperty(MAJOR_VERSION, &major);
    loaded.lib.nvjpegGetProperty(MINOR_VERSION, &minor);
    loaded.lib.nvjpegGetProperty(PATCH_LEVEL, &patch);
    loaded.lib.version =
        std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
    char real[4096];
    loaded.lib.path = dlinfo(handle, RTLD_DI_ORIGIN, real) == 0
                          ? std::string(real) + "/" + kFile
                          : candidate;
    return loaded;  // kept loaded for the process's life
  }
  tried.resize(tried.size() - 2);
  loaded.error = "nvJPEG (" + std::string(kFile) + ") cannot be loaded: " + tried +
                 " (IMGPREP_NVJPEG_LIBRARY may name it; the pip wheel nvidia-nvjpeg and "
                 "torchvision carry it)";
  return loaded;
}

}  // namespace

const NvjpegLibrary& nvjpeg() {
  static const Loaded loaded = load();
  if (!loaded.error.empty()) throw GpuError(loaded.error);
  return loaded.lib;
}

const char* nvjpeg_status_name(nvjpegStatus_t status) {
  switch (status) {
    case NVJPEG_STATUS_SUCCESS: return "NVJPEG_STATUS_SUCCESS";
    case NVJPEG_STATUS_NOT_INITIALIZED: return "NVJPEG_STATUS_NOT_INITIALIZED";
    case NVJPEG_STATUS_INVALID_PARAMETER: return "NVJPEG_STATUS_INVALID_PARAMETER";
    case NVJPEG_STATUS_BAD_JPEG: return "NVJPEG_STATUS_BAD_JPEG";
    case NVJPEG_STATUS_JPEG_NOT_SUPPORTED: return "NVJPEG_STATUS_JPEG_NOT_SUPPORTED";
    case NVJPEG_STATUS_ALLOCATOR_FAILURE: return "NVJPEG_STATUS_ALLOCATOR_FAILURE";
    case NVJPEG_STATUS_EXECUTION_FAILED: return "NVJPEG_STATUS_EXECUTION_FAILED";
    case NVJPEG_STATUS_ARCH_MISMATCH: return "NVJPEG_STATUS_ARCH_MISMATCH";
    case NVJPEG_STATUS_INTERNAL_ERROR: return "NVJPEG_STATUS_INTERNAL_ERROR";
    case NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED:
      return "NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED";
    case NVJPEG_STATUS_INCOMPLETE_BITSTREAM: return "NVJPEG_STATUS_INCOMPLETE_BITSTREAM";
    default: return "an unknown nvJPEG status";
  }
}

}  // namespace imgprep

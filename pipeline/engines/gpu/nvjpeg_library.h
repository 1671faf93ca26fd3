// nvJPEG, loaded at run time: it is not part of every CUDA install, and a build must run where
// there is none and say why GPU decoding is unavailable. Only its header is needed to build.
// Looked for, in order: the file $IMGPREP_NVJPEG_LIBRARY names, libnvjpeg.so.13 beside the binary
// holding imgprep's code (the build tree's bin/, the Python package), the nvidia-nvjpeg wheel's
// beside an installed Python package, then the loader's search path.
#pragma once

#include <nvjpeg.h>

#include <string>

namespace imgprep {

// The functions the GPU engine calls (by name: nvjpeg.name(...)).
#define IMGPREP_NVJPEG_FUNCTIONS(X)                                                             \
  X(nvjpegGetProperty)                                                                          \
  X(nvjpegCreateEx)                                                                             \
  X(nvjpegDestroy)                                                                              \
  X(nvjpegGetHardwareDecoderInfo)                                                               \
  X(nvjpegJpegStateCreate)                                                                      \
  X(nvjpegJpegStateDestroy)                                                                     \
  X(nvjpegDecodeBatchedInitialize)                                                              \
  X(nvjpegDecodeBatched)                                                                        \
  X(nvjpegDecodeBatchedEx)                                                                      \
  X(nvjpegDecodeBatchedSupportedEx)                                                             \
  X(nvjpegDecodeParamsCreate)                                                                   \
  X(nvjpegDecodeParamsDestroy)                                                                  \
  X(nvjpegDecodeParamsSetOutputFormat)                                                          \
  X(nvjpegDecodeParamsSetROI)                                                                   \
  X(nvjpegJpegStreamCreate)                                                                     \
  X(nvjpegJpegStreamDestroy)                                                                    \
  X(nvjpegJpegStreamParse)

struct NvjpegLibrary {
#define IMGPREP_NVJPEG_POINTER(name) decltype(&::name) name = nullptr;
  IMGPREP_NVJPEG_FUNCTIONS(IMGPREP_NVJPEG_POINTER)
#undef IMGPREP_NVJPEG_POINTER
  std::string path;     // the file loaded
  std::string version;  // "13.0.4"
};

// The library, loaded on first use and kept; throws GpuError with where it looked and why each
// place failed.
const NvjpegLibrary& nvjpeg();

// "NVJPEG_STATUS_ARCH_MISMATCH" and so on.
const char* nvjpeg_status_name(nvjpegStatus_t status);

}  // namespace imgprep

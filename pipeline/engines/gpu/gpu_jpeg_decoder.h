// The GPU engine's JPEG decoder (--decode gpu): nvJPEG's hardware backend where the device has
// JPEG engines (A100, H100, H200...), else its GPU backend. Decodes batches of JPEGs, or
// (hardware) rectangles of them, into interleaved RGB in device memory, on the caller's stream.
// Made and used on one thread (the GPU stage's), with the device current; one decoding state
// per stream it is used with.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "imgprep/kernels/upright.h"

namespace imgprep {

class GpuJpegDecoder {
 public:
  // Loads nvJPEG and makes its handle and `states` decoding states; throws GpuError saying why
  // GPU decoding is unavailable (no nvJPEG, none that runs here, a build without its header).
  explicit GpuJpegDecoder(int states);
  ~GpuJpegDecoder();
  GpuJpegDecoder(const GpuJpegDecoder&) = delete;
  GpuJpegDecoder& operator=(const GpuJpegDecoder&) = delete;

  // "nvJPEG 13.0.4 (/path/libnvjpeg.so.13), hardware backend, 7 JPEG engines"
  const std::string& description() const;
  // Whether it decodes rectangles of images (the hardware backend); else only whole images.
  bool decodes_regions() const;

  struct Image {
    std::span<const uint8_t> bytes;
    PixelRect rect;          // of the stored image; all of it unless decodes_regions()
    uint8_t* out = nullptr;  // device memory: rect.height rows of `pitch` bytes, RGB
    size_t pitch = 0;
  };
  // Whether the decoder takes the image (its bytes parse and the backend supports its coding
  // and the rectangle).
  bool takes(const Image& image);
  // Enqueues the batch's decoding on `stream` with state `state`. Returns an empty string, or
  // why the whole batch failed (then nothing is known to be written).
  std::string decode(int state, std::span<const Image> images, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imgprep

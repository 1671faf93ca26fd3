// The GPU JPEG decoder of a build without nvJPEG's header: never available.
#include "gpu_jpeg_decoder.h"

#include "imgprep/kernels/gpu_error.h"

namespace imgprep {

struct GpuJpegDecoder::Impl {};

GpuJpegDecoder::GpuJpegDecoder(int) {
  throw GpuError(
      "this build has no GPU JPEG decoding (nvjpeg.h was not found when it was built: "
      "scripts/setup.sh test installs nvJPEG's wheel; or IMGPREP_NVJPEG=OFF)");
}
GpuJpegDecoder::~GpuJpegDecoder() = default;
const std::string& GpuJpegDecoder::description() const {
  static const std::string none;
  return none;
}
bool GpuJpegDecoder::decodes_regions() const { return false; }
bool GpuJpegDecoder::takes(const Image&) { return false; }
std::string GpuJpegDecoder::decode(int, std::span<const Image>, cudaStream_t) {
  return "no GPU JPEG decoding in this build";
}

}  // namespace imgprep

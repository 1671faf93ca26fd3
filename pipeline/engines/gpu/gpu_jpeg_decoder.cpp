#include "gpu_jpeg_decoder.h"

#include <cstdlib>
#include <string_view>
#include <vector>

#include "imgprep/kernels/gpu_error.h"
#include "nvjpeg_library.h"

namespace imgprep {
namespace {

void check(nvjpegStatus_t status, const char* what) {
  if (status != NVJPEG_STATUS_SUCCESS)
    throw GpuError(std::string(what) + ": " + nvjpeg_status_name(status));
}

// libjpeg's "fancy" chroma upsampling, as the CPU decoder's: without it nvJPEG replicates chroma
// samples and 4:2:0 and 4:2:2 images drift from the CPU engine's by several levels at edges.
constexpr unsigned kFlags = NVJPEG_FLAGS_UPSAMPLING_WITH_INTERPOLATION;

}  // namespace

struct GpuJpegDecoder::Impl {
  const NvjpegLibrary& lib = nvjpeg();
  nvjpegHandle_t handle = nullptr;
  bool hardware = false;
  std::string description;
  std::vector<nvjpegJpegState_t> states;
  std::vector<int> state_batch;  // the batch size each state was initialised for
  nvjpegJpegStream_t stream = nullptr;
  std::vector<nvjpegDecodeParams_t> params;  // one per image of the largest batch so far
  std::vector<nvjpegDecodeParams_t> batch_params;  // a batch's: params[0..n)
  std::vector<const unsigned char*> data;
  std::vector<size_t> lengths;
  std::vector<nvjpegImage_t> outputs;

  ~Impl() {
    for (nvjpegDecodeParams_t p : params) lib.nvjpegDecodeParamsDestroy(p);
    if (stream) lib.nvjpegJpegStreamDestroy(stream);
    for (nvjpegJpegState_t s : states) lib.nvjpegJpegStateDestroy(s);
    if (handle) lib.nvjpegDestroy(handle);
  }

  nvjpegDecodeParams_t params_for(size_t i, const PixelRect& rect) {
    while (params.size() <= i) {
      nvjpegDecodeParams_t p = nullptr;
      check(lib.nvjpegDecodeParamsCreate(handle, &p), "nvjpegDecodeParamsCreate");
      params.push_back(p);
      check(lib.nvjpegDecodeParamsSetOutputFormat(p, NVJPEG_OUTPUT_RGBI),
            "nvjpegDecodeParamsSetOutputFormat");
    }
    check(lib.nvjpegDecodeParamsSetROI(params[i], rect.x, rect.y, rect.width, rect.height),
          "nvjpegDecodeParamsSetROI");
    return params[i];
  }
};

GpuJpegDecoder::GpuJpegDecoder(int states) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  const NvjpegLibrary& lib = d.lib;
  // The hardware backend, unless the device has no JPEG engines (NVJPEG_STATUS_ARCH_MISMATCH)
  // or this nvJPEG cannot drive them. IMGPREP_NVJPEG_BACKEND=hardware or gpu insists on one
  // (to measure each).
  const char* chosen = std::getenv("IMGPREP_NVJPEG_BACKEND");
  const std::string_view backend = chosen ? chosen : "";
  if (!backend.empty() && backend != "hardware" && backend != "gpu")
    throw GpuError("IMGPREP_NVJPEG_BACKEND: expected hardware or gpu, got '" +
                   std::string(backend) + "'");
  std::string engines;
  nvjpegStatus_t hardware = NVJPEG_STATUS_NOT_INITIALIZED;
  if (backend != "gpu")
    hardware = lib.nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE, nullptr, nullptr, kFlags, &d.handle);
  if (backend == "hardware") check(hardware, "nvJPEG's hardware backend");
  if (hardware == NVJPEG_STATUS_SUCCESS) {
    d.hardware = true;
    unsigned count = 0, cores = 0;
    if (lib.nvjpegGetHardwareDecoderInfo(d.handle, &count, &cores) == NVJPEG_STATUS_SUCCESS)
      engines = ", " + std::to_string(count) + " JPEG engines";
  } else {
    d.handle = nullptr;
    check(lib.nvjpegCreateEx(NVJPEG_BACKEND_GPU_HYBRID, nullptr, nullptr, kFlags, &d.handle),
          "nvjpegCreateEx");
  }
  d.description = "nvJPEG " + lib.version + " (" + lib.path + "), " +
                  (d.hardware ? "hardware backend" + engines : "GPU backend (no JPEG engines)");
  d.states.resize(static_cast<size_t>(states), nullptr);
  d.state_batch.assign(static_cast<size_t>(states), 0);
  for (nvjpegJpegState_t& s : d.states)
    check(lib.nvjpegJpegStateCreate(d.handle, &s), "nvjpegJpegStateCreate");
  check(lib.nvjpegJpegStreamCreate(d.handle, &d.stream), "nvjpegJpegStreamCreate");
}

GpuJpegDecoder::~GpuJpegDecoder() = default;

const std::string& GpuJpegDecoder::description() const { return impl_->description; }
bool GpuJpegDecoder::decodes_regions() const { return impl_->hardware; }

bool GpuJpegDecoder::takes(const Image& image) {
  Impl& d = *impl_;
  if (d.lib.nvjpegJpegStreamParse(d.handle, image.bytes.data(), image.bytes.size(), 0, 0,
                                  d.stream) != NVJPEG_STATUS_SUCCESS)
    return false;
  if (!d.hardware) return true;  // the GPU backend decodes every baseline JPEG
  int unsupported = 1;
  return d.lib.nvjpegDecodeBatchedSupportedEx(d.handle, d.stream, d.params_for(0, image.rect),
                                              &unsupported) == NVJPEG_STATUS_SUCCESS &&
         unsupported == 0;
}

std::string GpuJpegDecoder::decode(int state, std::span<const Image> images,
                                   cudaStream_t stream) {
  Impl& d = *impl_;
  const size_t n = images.size();
  if (n == 0) return {};
  d.data.resize(n);
  d.lengths.resize(n);
  d.outputs.assign(n, nvjpegImage_t{});
  d.batch_params.assign(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    d.data[i] = images[i].bytes.data();
    d.lengths[i] = images[i].bytes.size();
    d.outputs[i].channel[0] = images[i].out;
    d.outputs[i].pitch[0] = images[i].pitch;
    if (d.hardware) d.batch_params[i] = d.params_for(i, images[i].rect);
  }
  nvjpegJpegState_t s = d.states.at(static_cast<size_t>(state));
  nvjpegStatus_t status =
      d.lib.nvjpegDecodeBatchedInitialize(d.handle, s, static_cast<int>(n), 1, NVJPEG_OUTPUT_RGBI);
  if (status == NVJPEG_STATUS_SUCCESS)
    status = d.hardware ? d.lib.nvjpegDecodeBatchedEx(d.handle, s, d.data.data(),
                                                      d.lengths.data(), d.outputs.data(),
                                                      d.batch_params.data(), stream)
                        : d.lib.nvjpegDecodeBatched(d.handle, s, d.data.data(), d.lengths.data(),
                                                    d.outputs.data(), stream);
  return status == NVJPEG_STATUS_SUCCESS ? std::string()
                                         : std::string("nvJPEG: ") + nvjpeg_status_name(status);
}

}  // namespace imgprep

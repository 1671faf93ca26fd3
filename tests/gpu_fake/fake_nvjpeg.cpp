// A fake nvJPEG, on the host, for testing the GPU engine's JPEG decoding (--decode gpu) without a
// GPU.
//
// Why it exists: the engine loads libnvjpeg.so.13 at run time and has it decode batches of JPEG
// files into device memory on the engine's stream. Built as a library of that name (and SONAME)
// on the fake CUDA runtime (fake_cuda_runtime.cpp, whose device memory, streams and errors it
// shares), this file stands in for the real one on any machine: the engine's choice of backend,
// its support checks, its batching, ROI decoding and error handling run unchanged, and the pixels
// it gets are libjpeg-turbo's, decoded with the CPU decoder's settings (jpeg_reader.cpp: the
// accurate integer DCT, no scaling, RGB; a grayscale file as R = G = B), so the engine's output
// can be held byte-equal to the CPU engine's.
//
// It implements the calls the engine makes, with nvjpeg.h's signatures: the version, handles
// (hardware or GPU-hybrid backend), the hardware decoder's engines, states, decode parameters
// (RGBI output only, an ROI), JPEG streams (parsed headers), nvjpegDecodeBatchedSupportedEx,
// nvjpegDecodeBatchedInitialize, nvjpegDecodeBatched and nvjpegDecodeBatchedEx.
//
// It behaves as the real library does where an engine could get it wrong:
//   - Output is asynchronous. A batched call waits for its stream (so its state's staging buffers
//     are free again), decodes on the host into those pinned buffers, then enqueues their copies
//     into the destinations (device memory of the current device, the stream's) on the stream:
//     the pixels are there once the stream has run.
//   - A handle made without NVJPEG_FLAGS_UPSAMPLING_WITH_INTERPOLATION upsamples chroma by
//     replication (libjpeg's do_fancy_upsampling off), unlike the CPU decoder.
//   - nvjpegDecodeBatchedSupportedEx refuses, on both backends, what the hardware decoder cannot
//     do: progressive, arithmetic-coded and lossless files, a sample precision other than 8,
//     other than 1 or 3 components, 3 components not stored as YCbCr (CMYK, YCCK and RGB are
//     not), chroma subsampling other than 4:4:4, 4:2:2, 4:2:0 and 4:4:0 (so 4:1:1 and 4:1:0), an
//     ROI not inside the image; on the hardware backend also a file whose components are not all
//     in its first scan.
//   - A file libjpeg fails on, or warns is corrupt or truncated, fails the whole call
//     (NVJPEG_STATUS_BAD_JPEG) and nothing is written.
//   - The hardware backend does not wait for work queued earlier on the caller's stream (as
//     reported of H100s): when the stream has work that has not run at the call, the copies write
//     0x5A bytes instead of the pixels, and the report counts a hazard.
//
// Environment (read at each call):
//   IMGPREP_FAKE_NVJPEG_NO_HARDWARE=1   nvjpegCreateEx(NVJPEG_BACKEND_HARDWARE) fails with
//                                       NVJPEG_STATUS_ARCH_MISMATCH (a GPU without JPEG engines)
//   IMGPREP_FAKE_NVJPEG_UNSUPPORTED=K   nvjpegDecodeBatchedSupportedEx refuses every stream whose
//                                       length in bytes is a multiple of K
//   IMGPREP_FAKE_NVJPEG_FAIL_BATCH=N    the N-th batched decode call of the process (counting
//                                       from 1) fails with NVJPEG_STATUS_EXECUTION_FAILED and
//                                       writes nothing; later calls work
//   IMGPREP_FAKE_NVJPEG_SKIP=K          images whose length in bytes is a multiple of K are not
//                                       written, though the call succeeds
//   IMGPREP_FAKE_NVJPEG_REPORT=PATH     write a JSON object of what the process did (handles,
//                                       batches and images by backend, support checks, failures,
//                                       hazards, ...) at each nvjpegDestroy and at exit, if it
//                                       made a handle; written whole, then renamed into place
#include <cuda_runtime.h>
#include <nvjpeg.h>
#include <unistd.h>

#include <algorithm>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

// Exported by the fake CUDA runtime: 1 when `stream` has no queued work that has not run.
extern "C" int imgprep_fake_cuda_stream_idle(cudaStream_t stream);

// The opaque types of nvjpeg.h.
struct nvjpegHandle {
  bool hardware = false;  // NVJPEG_BACKEND_HARDWARE; else GPU_HYBRID
  unsigned flags = 0;
  int device = 0;                    // current when the handle was made
  nvjpegPinnedAllocator_t pinned{};  // for the staging buffers; null: cudaMallocHost
};

struct nvjpegJpegState {
  nvjpegHandle_t handle = nullptr;
  int batch_size = 0;  // 0: nvjpegDecodeBatchedInitialize not called
  uint8_t* staging = nullptr;
  size_t staging_size = 0;
  cudaStream_t last_stream = nullptr;  // the stream of the copies out of `staging`
};

struct nvjpegDecodeParams {
  int x = 0, y = 0, width = -1, height = -1;  // (0, 0, -1, -1): the whole image
};

namespace {

// What nvjpegDecodeBatchedSupportedEx needs of a file, from its frame header.
struct Header {
  size_t length = 0;
  int width = 0, height = 0, components = 0, precision = 0;
  bool progressive = false, arithmetic = false, lossless = false;
  bool single_scan = true;  // every component in the first scan
  bool ycbcr = false;        // 3 components stored as YCbCr
  int h[3] = {1, 1, 1}, v[3] = {1, 1, 1};  // sampling factors of the first 3 components
};

}  // namespace

struct nvjpegJpegStream {
  bool parsed = false;
  Header header;
};

namespace {

// ---- Configuration and the report -------------------------------------------------------------

long env_count(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? std::strtol(value, nullptr, 10) : 0;
}

std::mutex mutex;  // guards the counts below; each state is used by one thread at a time

struct Counts {
  long handles[2] = {}, batches[2] = {}, images[2] = {};  // [hardware]: 0 hybrid, 1 hardware
  long refused_hardware = 0, roi_images = 0, supported_checks = 0, unsupported = 0;
  long failed_batches = 0, bad_jpeg_batches = 0, skipped_images = 0, hazards = 0;
  long without_interpolation = 0;
  long batch_calls = 0;  // for IMGPREP_FAKE_NVJPEG_FAIL_BATCH
  void write() const;    // to IMGPREP_FAKE_NVJPEG_REPORT; the caller holds `mutex`
  ~Counts() {
    std::lock_guard lock(mutex);
    write();
  }
} counts;

void Counts::write() const {
  const char* path = std::getenv("IMGPREP_FAKE_NVJPEG_REPORT");
  if (!path || !*path || handles[0] + handles[1] == 0) return;
  const auto by_backend = [](const long (&n)[2]) {
    return "{\"hardware\": " + std::to_string(n[1]) + ", \"hybrid\": " + std::to_string(n[0]) +
           "}";
  };
  const auto line = [](const char* key, long n) {
    return "  \"" + std::string(key) + "\": " + std::to_string(n) + ",\n";
  };
  std::string s = "{\n";
  s += "  \"handles\": " + by_backend(handles) + ",\n";
  s += line("refused_hardware", refused_hardware);
  s += "  \"batches\": " + by_backend(batches) + ",\n";
  s += "  \"images\": " + by_backend(images) + ",\n";
  s += line("roi_images", roi_images);
  s += line("supported_checks", supported_checks);
  s += line("unsupported", unsupported);
  s += line("failed_batches", failed_batches);
  s += line("bad_jpeg_batches", bad_jpeg_batches);
  s += line("skipped_images", skipped_images);
  s += line("hazards", hazards);
  s += "  \"without_interpolation\": " + std::to_string(without_interpolation) + "\n}\n";
  const std::string temporary = std::string(path) + ".tmp" + std::to_string(getpid());
  if (FILE* f = std::fopen(temporary.c_str(), "w")) {
    std::fputs(s.c_str(), f);
    std::fclose(f);
    std::rename(temporary.c_str(), path);
  }
}

// ---- libjpeg ----------------------------------------------------------------------------------

// One file's decompressor (made by read_header). Errors longjmp back to the setjmp of the
// function that called libjpeg; warnings that the data is corrupt or cut short mark it `corrupt`.
struct Jpeg {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr err{};
  std::jmp_buf jump{};
  bool created = false, corrupt = false;

  Jpeg() {
    cinfo.err = jpeg_std_error(&err);
    err.error_exit = [](j_common_ptr c) {
      std::longjmp(static_cast<Jpeg*>(c->client_data)->jump, 1);
    };
    err.emit_message = [](j_common_ptr c, int level) {
      if (level >= 0) return;  // trace messages
      switch (c->err->msg_code) {
        case JWRN_JPEG_EOF: case JWRN_HIT_MARKER: case JWRN_EXTRANEOUS_DATA:
        case JWRN_HUFF_BAD_CODE: case JWRN_MUST_RESYNC:
        case JWRN_NOT_SEQUENTIAL: case JWRN_BOGUS_PROGRESSION:
          static_cast<Jpeg*>(c->client_data)->corrupt = true;
          break;
        default: break;
      }
    };
    err.output_message = [](j_common_ptr) {};
    cinfo.client_data = this;  // jpeg_create_decompress keeps it, and err
  }
  ~Jpeg() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
  Jpeg(const Jpeg&) = delete;
  Jpeg& operator=(const Jpeg&) = delete;
};

// Reads the header (markers up to the first scan); false on an error or corrupt data.
bool read_header(Jpeg& j, const uint8_t* data, size_t length) {
  if (setjmp(j.jump)) return false;
  jpeg_create_decompress(&j.cinfo);
  j.created = true;
  jpeg_mem_src(&j.cinfo, data, static_cast<unsigned long>(length));
  jpeg_read_header(&j.cinfo, TRUE);
  return !j.corrupt;
}

// Decodes the whole image (after read_header) into `out`: rows of width * 3 bytes of RGB.
bool read_pixels(Jpeg& j, bool interpolation, uint8_t* out) {
  if (setjmp(j.jump)) return false;
  j.cinfo.out_color_space = JCS_RGB;
  j.cinfo.dct_method = JDCT_ISLOW;
  j.cinfo.do_fancy_upsampling = interpolation ? TRUE : FALSE;
  jpeg_start_decompress(&j.cinfo);
  while (j.cinfo.output_scanline < j.cinfo.output_height) {
    JSAMPROW row = out + size_t{j.cinfo.output_scanline} * j.cinfo.output_width * 3;
    jpeg_read_scanlines(&j.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&j.cinfo);  // reads on to the end-of-image marker
  return !j.corrupt;
}

// The frame header (SOFn segment) found by walking the markers from SOI: its marker, or 0 when
// there is none before the first scan. libjpeg-turbo refuses some frames nvJPEG parses (lossless,
// 12-bit), which nvjpegDecodeBatchedSupportedEx then refuses instead.
int frame_header(const uint8_t* d, size_t n, const uint8_t*& segment, size_t& segment_length) {
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 0;
  size_t i = 2;
  while (i < n && d[i] == 0xFF) {
    while (i < n && d[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) return 0;
    const int marker = d[i++];
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no segment
    if (marker == 0xD9 || marker == 0xDA || i + 2 > n) return 0;
    const size_t length = size_t{d[i]} << 8 | d[i + 1];
    if (length < 2 || i + length > n) return 0;
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      segment = d + i + 2;
      segment_length = length - 2;
      return marker;
    }
    i += length;
  }
  return 0;
}

nvjpegStatus_t parse(const uint8_t* data, size_t length, Header& h) {
  h = Header{};
  h.length = length;
  const uint8_t* sof = nullptr;
  size_t sof_length = 0;
  const int marker = frame_header(data, length, sof, sof_length);
  if (marker && sof_length >= 6 && ((marker & 3) == 3 || sof[0] != 8)) {
    // Lossless (SOF3, 7, 11, 15) or not 8-bit: only the frame header's fields.
    h.lossless = (marker & 3) == 3;
    h.progressive = (marker & 3) == 2;
    h.arithmetic = marker >= 0xC8;
    h.precision = sof[0];
    h.height = sof[1] << 8 | sof[2];
    h.width = sof[3] << 8 | sof[4];
    h.components = sof[5];
    return h.width > 0 && h.height > 0 ? NVJPEG_STATUS_SUCCESS : NVJPEG_STATUS_BAD_JPEG;
  }
  Jpeg j;
  if (!read_header(j, data, length)) return NVJPEG_STATUS_BAD_JPEG;
  const jpeg_decompress_struct& c = j.cinfo;
  h.width = static_cast<int>(c.image_width);
  h.height = static_cast<int>(c.image_height);
  h.components = c.num_components;
  h.precision = c.data_precision;
  h.progressive = c.progressive_mode;
  h.arithmetic = c.arith_code;
  h.single_scan = c.comps_in_scan == c.num_components;
  h.ycbcr = c.jpeg_color_space == JCS_YCbCr;
  for (int i = 0; i < std::min(c.num_components, 3); ++i) {
    h.h[i] = c.comp_info[i].h_samp_factor;
    h.v[i] = c.comp_info[i].v_samp_factor;
  }
  return NVJPEG_STATUS_SUCCESS;
}

bool whole_image(const nvjpegDecodeParams* p) {
  return !p || (p->x == 0 && p->y == 0 && p->width == -1 && p->height == -1);
}

bool roi_inside(const nvjpegDecodeParams* p, int width, int height) {
  return whole_image(p) || (p->x >= 0 && p->y >= 0 && p->width > 0 && p->height > 0 &&
                            p->x <= width - p->width && p->y <= height - p->height);
}

bool supported(const Header& h, const nvjpegDecodeParams* p, bool hardware) {
  if (h.progressive || h.arithmetic || h.lossless || h.precision != 8) return false;
  if (hardware && !h.single_scan) return false;
  if (h.components == 3) {
    if (!h.ycbcr || h.h[1] != 1 || h.v[1] != 1 || h.h[2] != 1 || h.v[2] != 1) return false;
    if (h.h[0] < 1 || h.h[0] > 2 || h.v[0] < 1 || h.v[0] > 2) return false;  // 4:1:1, 4:1:0
  } else if (h.components != 1) {
    return false;
  }
  if (!roi_inside(p, h.width, h.height)) return false;
  const long k = env_count("IMGPREP_FAKE_NVJPEG_UNSUPPORTED");
  return !(k > 0 && h.length % static_cast<size_t>(k) == 0);
}

// Whether `p` is device memory of `device`.
bool on_device(const void* p, int device) {
  cudaPointerAttributes a{};
  return cudaPointerGetAttributes(&a, p) == cudaSuccess && a.type == cudaMemoryTypeDevice &&
         a.device == device;
}

// One image of a batched call: its decode, then the rectangle that goes to its destination.
struct Image {
  int width = 0, height = 0;  // the whole image
  int x = 0, y = 0, w = 0, h = 0;
  bool roi = false, skip = false;
  std::vector<uint8_t> rgb;
};

nvjpegStatus_t grow_staging(nvjpegJpegState& s, size_t size) {
  if (size <= s.staging_size) return NVJPEG_STATUS_SUCCESS;
  const nvjpegPinnedAllocator_t& a = s.handle->pinned;
  if (s.staging) {
    if (a.pinned_free)
      a.pinned_free(s.staging);
    else
      cudaFreeHost(s.staging);
  }
  s.staging = nullptr;
  s.staging_size = 0;
  void* p = nullptr;
  const bool ok = a.pinned_malloc ? a.pinned_malloc(&p, size, 0) == 0
                                  : cudaMallocHost(&p, size) == cudaSuccess;
  if (!ok || !p) return NVJPEG_STATUS_ALLOCATOR_FAILURE;
  s.staging = static_cast<uint8_t*>(p);
  s.staging_size = size;
  return NVJPEG_STATUS_SUCCESS;
}

// nvjpegDecodeBatched (params null) and nvjpegDecodeBatchedEx.
nvjpegStatus_t decode_batch(nvjpegHandle_t handle, nvjpegJpegState_t state,
                            const unsigned char* const* data, const size_t* lengths,
                            nvjpegImage_t* destinations, const nvjpegDecodeParams_t* params,
                            cudaStream_t stream) {
  if (!handle || !state || state->handle != handle || !data || !lengths || !destinations)
    return NVJPEG_STATUS_INVALID_PARAMETER;
  if (state->batch_size <= 0) return NVJPEG_STATUS_NOT_INITIALIZED;
  const int n = state->batch_size;
  long call = 0;
  {
    std::lock_guard lock(mutex);
    call = ++counts.batch_calls;
  }
  // Whether earlier work on the stream is still to run: what the hardware backend ignores.
  const bool pending = imgprep_fake_cuda_stream_idle(stream) == 0;

  // The work goes to the stream's device, which must be the current one and the handle's.
  int device = 0, stream_device = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaStreamGetDevice(stream, &stream_device) != cudaSuccess || stream_device != device ||
      handle->device != device)
    return NVJPEG_STATUS_EXECUTION_FAILED;
  const long fail_at = env_count("IMGPREP_FAKE_NVJPEG_FAIL_BATCH");
  if (fail_at > 0 && call == fail_at) {
    std::lock_guard lock(mutex);
    ++counts.failed_batches;
    return NVJPEG_STATUS_EXECUTION_FAILED;
  }

  // Every image's header, rectangle and destination, before anything is decoded.
  const auto bad_jpeg = [] {
    std::lock_guard lock(mutex);
    ++counts.bad_jpeg_batches;
    return NVJPEG_STATUS_BAD_JPEG;
  };
  const long skip_k = env_count("IMGPREP_FAKE_NVJPEG_SKIP");
  std::vector<Image> images(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Image& im = images[static_cast<size_t>(i)];
    if (!data[i]) return NVJPEG_STATUS_INVALID_PARAMETER;
    Header header;
    if (parse(data[i], lengths[i], header) != NVJPEG_STATUS_SUCCESS || header.lossless ||
        header.precision != 8)
      return bad_jpeg();
    const nvjpegDecodeParams* p = params ? params[i] : nullptr;
    if (!roi_inside(p, header.width, header.height)) return NVJPEG_STATUS_INVALID_PARAMETER;
    im.width = header.width;
    im.height = header.height;
    im.roi = !whole_image(p);
    im.x = im.roi ? p->x : 0;
    im.y = im.roi ? p->y : 0;
    im.w = im.roi ? p->width : header.width;
    im.h = im.roi ? p->height : header.height;
    im.skip = skip_k > 0 && lengths[i] % static_cast<size_t>(skip_k) == 0;
    const nvjpegImage_t& dst = destinations[i];
    const size_t row = size_t{3} * static_cast<size_t>(im.w);
    if (!dst.channel[0] || dst.pitch[0] < row) return NVJPEG_STATUS_INVALID_PARAMETER;
    if (!on_device(dst.channel[0], device) ||
        !on_device(dst.channel[0] + dst.pitch[0] * static_cast<size_t>(im.h - 1) + row - 1,
                   device))
      return NVJPEG_STATUS_EXECUTION_FAILED;
  }

  // The staging buffers are free once the previous call's copies have run.
  if (state->last_stream && state->last_stream != stream) cudaStreamSynchronize(state->last_stream);
  state->last_stream = nullptr;
  if (cudaStreamSynchronize(stream) != cudaSuccess) return NVJPEG_STATUS_EXECUTION_FAILED;

  const bool interpolation = handle->flags & NVJPEG_FLAGS_UPSAMPLING_WITH_INTERPOLATION;
  size_t staging = 0;
  for (int i = 0; i < n; ++i) {
    Image& im = images[static_cast<size_t>(i)];
    im.rgb.resize(size_t{3} * static_cast<size_t>(im.width) * static_cast<size_t>(im.height));
    Jpeg j;
    if (!read_header(j, data[i], lengths[i]) || !read_pixels(j, interpolation, im.rgb.data()) ||
        static_cast<int>(j.cinfo.output_width) != im.width ||
        static_cast<int>(j.cinfo.output_height) != im.height)
      return bad_jpeg();
    if (!im.skip) staging += size_t{3} * static_cast<size_t>(im.w) * static_cast<size_t>(im.h);
  }
  if (const nvjpegStatus_t status = grow_staging(*state, std::max<size_t>(staging, 1)))
    return status;

  // Into the staging buffer (0x5A for the hazard), then to the destinations on the stream.
  const bool hazard = handle->hardware && pending;
  uint8_t* at = state->staging;
  long written = 0, skipped = 0, roi = 0;
  state->last_stream = stream;
  for (int i = 0; i < n; ++i) {
    const Image& im = images[static_cast<size_t>(i)];
    if (im.skip) {
      ++skipped;
      continue;
    }
    const size_t row = size_t{3} * static_cast<size_t>(im.w);
    const nvjpegImage_t& dst = destinations[i];
    for (int r = 0; r < im.h; ++r) {
      uint8_t* to = at + row * static_cast<size_t>(r);
      if (hazard)
        std::memset(to, 0x5A, row);
      else
        std::memcpy(to,
                    im.rgb.data() + (size_t{3} * static_cast<size_t>(im.width) *
                                         static_cast<size_t>(im.y + r) +
                                     size_t{3} * static_cast<size_t>(im.x)),
                    row);
    }
    if (dst.pitch[0] == row) {
      if (cudaMemcpyAsync(dst.channel[0], at, row * static_cast<size_t>(im.h),
                          cudaMemcpyHostToDevice, stream) != cudaSuccess)
        return NVJPEG_STATUS_EXECUTION_FAILED;
    } else {
      for (int r = 0; r < im.h; ++r)
        if (cudaMemcpyAsync(dst.channel[0] + dst.pitch[0] * static_cast<size_t>(r),
                            at + row * static_cast<size_t>(r), row, cudaMemcpyHostToDevice,
                            stream) != cudaSuccess)
          return NVJPEG_STATUS_EXECUTION_FAILED;
    }
    at += row * static_cast<size_t>(im.h);
    ++written;
    roi += im.roi;
  }

  std::lock_guard lock(mutex);
  const int backend = handle->hardware ? 1 : 0;
  ++counts.batches[backend];
  counts.images[backend] += written;
  counts.roi_images += roi;
  counts.skipped_images += skipped;
  counts.hazards += hazard;
  if (!interpolation) counts.without_interpolation += written;
  return NVJPEG_STATUS_SUCCESS;
}

}  // namespace

// ---- The API ----------------------------------------------------------------------------------

extern "C" {

nvjpegStatus_t nvjpegGetProperty(libraryPropertyType type, int* value) {
  if (!value) return NVJPEG_STATUS_INVALID_PARAMETER;
  switch (type) {
    case MAJOR_VERSION: *value = NVJPEG_VER_MAJOR; return NVJPEG_STATUS_SUCCESS;
    case MINOR_VERSION: *value = NVJPEG_VER_MINOR; return NVJPEG_STATUS_SUCCESS;
    case PATCH_LEVEL: *value = NVJPEG_VER_PATCH; return NVJPEG_STATUS_SUCCESS;
    default: return NVJPEG_STATUS_INVALID_PARAMETER;
  }
}

// The handle belongs to the current device, whose context it needs (an unavailable device
// fails).
nvjpegStatus_t nvjpegCreateEx(nvjpegBackend_t backend, nvjpegDevAllocator_t* /*dev_allocator*/,
                              nvjpegPinnedAllocator_t* pinned_allocator, unsigned int flags,
                              nvjpegHandle_t* handle) {
  if (!handle) return NVJPEG_STATUS_INVALID_PARAMETER;
  if (backend != NVJPEG_BACKEND_DEFAULT && backend != NVJPEG_BACKEND_GPU_HYBRID &&
      backend != NVJPEG_BACKEND_HARDWARE)
    return NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED;
  const bool hardware = backend == NVJPEG_BACKEND_HARDWARE;
  if (hardware && env_count("IMGPREP_FAKE_NVJPEG_NO_HARDWARE") != 0) {
    std::lock_guard lock(mutex);
    ++counts.refused_hardware;
    return NVJPEG_STATUS_ARCH_MISMATCH;
  }
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || cudaFree(nullptr) != cudaSuccess)
    return NVJPEG_STATUS_EXECUTION_FAILED;
  auto* h = new nvjpegHandle;
  h->hardware = hardware;
  h->flags = flags;
  h->device = device;
  if (pinned_allocator) h->pinned = *pinned_allocator;
  std::lock_guard lock(mutex);
  ++counts.handles[hardware ? 1 : 0];
  *handle = h;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegDestroy(nvjpegHandle_t handle) {
  if (!handle) return NVJPEG_STATUS_INVALID_PARAMETER;
  delete handle;
  std::lock_guard lock(mutex);
  counts.write();
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegGetHardwareDecoderInfo(nvjpegHandle_t handle, unsigned int* num_engines,
                                            unsigned int* num_cores_per_engine) {
  if (!handle || !num_engines || !num_cores_per_engine) return NVJPEG_STATUS_INVALID_PARAMETER;
  if (!handle->hardware) return NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED;
  *num_engines = 7;  // as an H200
  *num_cores_per_engine = 1;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegJpegStateCreate(nvjpegHandle_t handle, nvjpegJpegState_t* state) {
  if (!handle || !state) return NVJPEG_STATUS_INVALID_PARAMETER;
  *state = new nvjpegJpegState;
  (*state)->handle = handle;
  return NVJPEG_STATUS_SUCCESS;
}

// The staging buffer is released once the copies out of it have run.
nvjpegStatus_t nvjpegJpegStateDestroy(nvjpegJpegState_t state) {
  if (!state) return NVJPEG_STATUS_INVALID_PARAMETER;
  if (state->staging) {
    if (state->last_stream) cudaStreamSynchronize(state->last_stream);
    if (state->handle->pinned.pinned_free)
      state->handle->pinned.pinned_free(state->staging);
    else
      cudaFreeHost(state->staging);
  }
  delete state;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegDecodeParamsCreate(nvjpegHandle_t handle,
                                        nvjpegDecodeParams_t* decode_params) {
  if (!handle || !decode_params) return NVJPEG_STATUS_INVALID_PARAMETER;
  *decode_params = new nvjpegDecodeParams;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegDecodeParamsDestroy(nvjpegDecodeParams_t decode_params) {
  if (!decode_params) return NVJPEG_STATUS_INVALID_PARAMETER;
  delete decode_params;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegDecodeParamsSetOutputFormat(nvjpegDecodeParams_t decode_params,
                                                 nvjpegOutputFormat_t output_format) {
  if (!decode_params) return NVJPEG_STATUS_INVALID_PARAMETER;
  return output_format == NVJPEG_OUTPUT_RGBI ? NVJPEG_STATUS_SUCCESS
                                             : NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED;
}

nvjpegStatus_t nvjpegDecodeParamsSetROI(nvjpegDecodeParams_t decode_params, int offset_x,
                                        int offset_y, int roi_width, int roi_height) {
  if (!decode_params) return NVJPEG_STATUS_INVALID_PARAMETER;
  *decode_params = {offset_x, offset_y, roi_width, roi_height};
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegJpegStreamCreate(nvjpegHandle_t handle, nvjpegJpegStream_t* jpeg_stream) {
  if (!handle || !jpeg_stream) return NVJPEG_STATUS_INVALID_PARAMETER;
  *jpeg_stream = new nvjpegJpegStream;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegJpegStreamDestroy(nvjpegJpegStream_t jpeg_stream) {
  if (!jpeg_stream) return NVJPEG_STATUS_INVALID_PARAMETER;
  delete jpeg_stream;
  return NVJPEG_STATUS_SUCCESS;
}

// The header only (nothing is decoded); save_metadata and save_stream change nothing here.
nvjpegStatus_t nvjpegJpegStreamParse(nvjpegHandle_t handle, const unsigned char* data,
                                     size_t length, int /*save_metadata*/, int /*save_stream*/,
                                     nvjpegJpegStream_t jpeg_stream) {
  if (!handle || !data || !jpeg_stream) return NVJPEG_STATUS_INVALID_PARAMETER;
  const nvjpegStatus_t status = parse(data, length, jpeg_stream->header);
  jpeg_stream->parsed = status == NVJPEG_STATUS_SUCCESS;
  return status;
}

// *is_supported: 0 when the batched decoder can decode the stream with these parameters.
nvjpegStatus_t nvjpegDecodeBatchedSupportedEx(nvjpegHandle_t handle,
                                              nvjpegJpegStream_t jpeg_stream,
                                              nvjpegDecodeParams_t decode_params,
                                              int* is_supported) {
  if (!handle || !jpeg_stream || !jpeg_stream->parsed || !is_supported)
    return NVJPEG_STATUS_INVALID_PARAMETER;
  const bool ok = supported(jpeg_stream->header, decode_params, handle->hardware);
  *is_supported = ok ? 0 : 1;
  std::lock_guard lock(mutex);
  ++counts.supported_checks;
  counts.unsupported += !ok;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegDecodeBatchedInitialize(nvjpegHandle_t handle, nvjpegJpegState_t state,
                                             int batch_size, int /*max_cpu_threads*/,
                                             nvjpegOutputFormat_t output_format) {
  if (!handle || !state || state->handle != handle || batch_size <= 0)
    return NVJPEG_STATUS_INVALID_PARAMETER;
  if (output_format != NVJPEG_OUTPUT_RGBI) return NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED;
  state->batch_size = batch_size;
  return NVJPEG_STATUS_SUCCESS;
}

nvjpegStatus_t nvjpegDecodeBatched(nvjpegHandle_t handle, nvjpegJpegState_t state,
                                   const unsigned char* const* data, const size_t* lengths,
                                   nvjpegImage_t* destinations, cudaStream_t stream) {
  return decode_batch(handle, state, data, lengths, destinations, nullptr, stream);
}

nvjpegStatus_t nvjpegDecodeBatchedEx(nvjpegHandle_t handle, nvjpegJpegState_t state,
                                     const unsigned char* const* data, const size_t* lengths,
                                     nvjpegImage_t* destinations,
                                     nvjpegDecodeParams_t* decode_params, cudaStream_t stream) {
  return decode_batch(handle, state, data, lengths, destinations, decode_params, stream);
}

}  // extern "C"

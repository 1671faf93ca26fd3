// The fake nvJPEG (fake_nvjpeg.cpp) as the engine uses a real one: loaded with dlopen from its
// path (IMGPREP_FAKE_NVJPEG), its functions found with dlsym, its output read back from the fake
// CUDA runtime's device memory. The pixels are held byte-equal to TurboJPEG's decode of the
// sample JPEGs (IMGPREP_SAMPLE), and each test switch and the hardware backend's stream hazard is
// checked on the bytes it writes.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <nvjpeg.h>
#include <turbojpeg.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using Bytes = std::vector<uint8_t>;

void* library() {
  static void* lib = [] {
    const char* path = std::getenv("IMGPREP_FAKE_NVJPEG");
    return path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : nullptr;
  }();
  return lib;
}

template <typename F>
F symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(library(), name));
}

// The library's functions, by the names and types of nvjpeg.h.
struct Api {
#define IMGPREP_NVJPEG_FN(name) decltype(&::name) name = symbol<decltype(&::name)>(#name)
  IMGPREP_NVJPEG_FN(nvjpegGetProperty);
  IMGPREP_NVJPEG_FN(nvjpegCreateEx);
  IMGPREP_NVJPEG_FN(nvjpegDestroy);
  IMGPREP_NVJPEG_FN(nvjpegGetHardwareDecoderInfo);
  IMGPREP_NVJPEG_FN(nvjpegJpegStateCreate);
  IMGPREP_NVJPEG_FN(nvjpegJpegStateDestroy);
  IMGPREP_NVJPEG_FN(nvjpegDecodeParamsCreate);
  IMGPREP_NVJPEG_FN(nvjpegDecodeParamsDestroy);
  IMGPREP_NVJPEG_FN(nvjpegDecodeParamsSetOutputFormat);
  IMGPREP_NVJPEG_FN(nvjpegDecodeParamsSetROI);
  IMGPREP_NVJPEG_FN(nvjpegJpegStreamCreate);
  IMGPREP_NVJPEG_FN(nvjpegJpegStreamDestroy);
  IMGPREP_NVJPEG_FN(nvjpegJpegStreamParse);
  IMGPREP_NVJPEG_FN(nvjpegDecodeBatchedSupportedEx);
  IMGPREP_NVJPEG_FN(nvjpegDecodeBatchedInitialize);
  IMGPREP_NVJPEG_FN(nvjpegDecodeBatched);
  IMGPREP_NVJPEG_FN(nvjpegDecodeBatchedEx);
#undef IMGPREP_NVJPEG_FN
};

const Api& nv() {
  static const Api api;
  return api;
}

Bytes sample(const std::string& name) {
  const char* dir = std::getenv("IMGPREP_SAMPLE");
  std::ifstream in(std::string(dir ? dir : "datasets/sample") + "/" + name, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

struct Rgb {
  int width = 0, height = 0;
  Bytes pixels;  // rows of width * 3 bytes

  Rgb crop(int x, int y, int w, int h) const {
    Rgb out{w, h, {}};
    for (int r = 0; r < h; ++r) {
      const auto* row = pixels.data() + (size_t(y + r) * width + x) * 3;
      out.pixels.insert(out.pixels.end(), row, row + size_t(w) * 3);
    }
    return out;
  }
};

// TurboJPEG's decode: the accurate DCT, with or without fancy (interpolating) upsampling.
Rgb turbo(const Bytes& jpeg, bool interpolation) {
  tjhandle tj = tjInitDecompress();
  Rgb out;
  int subsampling = 0, colorspace = 0;
  EXPECT_EQ(tjDecompressHeader3(tj, jpeg.data(), jpeg.size(), &out.width, &out.height,
                                &subsampling, &colorspace),
            0);
  out.pixels.resize(size_t(out.width) * out.height * 3);
  EXPECT_EQ(tjDecompress2(tj, jpeg.data(), jpeg.size(), out.pixels.data(), out.width, 0,
                          out.height, TJPF_RGB,
                          TJFLAG_ACCURATEDCT | (interpolation ? 0 : TJFLAG_FASTUPSAMPLE)),
            0)
      << tjGetErrorStr2(tj);
  tjDestroy(tj);
  return out;
}

// `rgb` compressed again with the given chroma subsampling.
Bytes encode(const Rgb& rgb, int subsampling) {
  tjhandle tj = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(tjCompress2(tj, rgb.pixels.data(), rgb.width, 0, rgb.height, TJPF_RGB, &jpeg, &size,
                        subsampling, 90, 0),
            0);
  Bytes out(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(tj);
  return out;
}

struct Roi {
  int x = 0, y = 0, w = -1, h = -1;
};

long batch_calls = 0;  // this process's batched decode calls, for IMGPREP_FAKE_NVJPEG_FAIL_BATCH

// A batched call's destinations (device memory) and the sizes of its images.
struct Batch {
  nvjpegStatus_t status = NVJPEG_STATUS_SUCCESS;
  std::vector<nvjpegImage_t> destinations;
  std::vector<Rgb> out;
};

// The images' rows, unpadded, read back with cudaMemcpy (which waits for the device); frees the
// destinations.
std::vector<Rgb> read(Batch& b) {
  for (size_t i = 0; i < b.out.size(); ++i) {
    Rgb& o = b.out[i];
    const size_t pitch = b.destinations[i].pitch[0], row = size_t(o.width) * 3;
    Bytes padded(pitch * o.height);
    EXPECT_EQ(cudaMemcpy(padded.data(), b.destinations[i].channel[0], padded.size(),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
    o.pixels.clear();
    for (int r = 0; r < o.height; ++r)
      o.pixels.insert(o.pixels.end(), padded.begin() + pitch * r,
                      padded.begin() + pitch * r + row);
    cudaFree(b.destinations[i].channel[0]);
  }
  b.destinations.clear();
  return b.out;
}

struct Decoder {
  nvjpegHandle_t handle = nullptr;
  nvjpegJpegState_t state = nullptr;
  nvjpegStatus_t status;

  Decoder(nvjpegBackend_t backend, unsigned flags)
      : status(nv().nvjpegCreateEx(backend, nullptr, nullptr, flags, &handle)) {
    if (status == NVJPEG_STATUS_SUCCESS) status = nv().nvjpegJpegStateCreate(handle, &state);
  }
  ~Decoder() {
    if (state) nv().nvjpegJpegStateDestroy(state);
    if (handle) nv().nvjpegDestroy(handle);
  }

  // Whether nvjpegDecodeBatchedSupportedEx accepts `jpeg` with `roi` (after a parse that must
  // succeed).
  bool supports(const Bytes& jpeg, Roi roi = {}) {
    nvjpegJpegStream_t stream = nullptr;
    nvjpegDecodeParams_t params = nullptr;
    EXPECT_EQ(nv().nvjpegJpegStreamCreate(handle, &stream), NVJPEG_STATUS_SUCCESS);
    EXPECT_EQ(nv().nvjpegDecodeParamsCreate(handle, &params), NVJPEG_STATUS_SUCCESS);
    EXPECT_EQ(nv().nvjpegDecodeParamsSetROI(params, roi.x, roi.y, roi.w, roi.h),
              NVJPEG_STATUS_SUCCESS);
    EXPECT_EQ(nv().nvjpegJpegStreamParse(handle, jpeg.data(), jpeg.size(), 0, 0, stream),
              NVJPEG_STATUS_SUCCESS);
    int is_supported = -1;
    EXPECT_EQ(nv().nvjpegDecodeBatchedSupportedEx(handle, stream, params, &is_supported),
              NVJPEG_STATUS_SUCCESS);
    nv().nvjpegDecodeParamsDestroy(params);
    nv().nvjpegJpegStreamDestroy(stream);
    return is_supported == 0;
  }

  // One batched call (nvjpegDecodeBatchedEx when `rois` is given) into fresh device buffers
  // whose rows have 8 bytes of padding; read() reads them back.
  Batch submit(const std::vector<Bytes>& files, cudaStream_t stream,
               const std::vector<Roi>* rois = nullptr) {
    const int n = static_cast<int>(files.size());
    EXPECT_EQ(nv().nvjpegDecodeBatchedInitialize(handle, state, n, 1, NVJPEG_OUTPUT_RGBI),
              NVJPEG_STATUS_SUCCESS);
    std::vector<const unsigned char*> data;
    std::vector<size_t> lengths;
    std::vector<nvjpegDecodeParams_t> params(files.size());
    Batch b;
    b.destinations.resize(files.size());
    b.out.resize(files.size());
    for (int i = 0; i < n; ++i) {
      data.push_back(files[i].data());
      lengths.push_back(files[i].size());
      Rgb& o = b.out[i];
      tjhandle tj = tjInitDecompress();
      int subsampling = 0, colorspace = 0;
      tjDecompressHeader3(tj, files[i].data(), files[i].size(), &o.width, &o.height,
                          &subsampling, &colorspace);
      tjDestroy(tj);
      const Roi roi = rois ? (*rois)[i] : Roi{};
      if (roi.w > 0) o.width = roi.w, o.height = roi.h;
      void* buffer = nullptr;
      b.destinations[i].pitch[0] = size_t(o.width) * 3 + 8;
      EXPECT_EQ(cudaMalloc(&buffer, b.destinations[i].pitch[0] * o.height), cudaSuccess);
      b.destinations[i].channel[0] = static_cast<unsigned char*>(buffer);
      EXPECT_EQ(nv().nvjpegDecodeParamsCreate(handle, &params[i]), NVJPEG_STATUS_SUCCESS);
      nv().nvjpegDecodeParamsSetROI(params[i], roi.x, roi.y, roi.w, roi.h);
      EXPECT_EQ(nv().nvjpegDecodeParamsSetOutputFormat(params[i], NVJPEG_OUTPUT_RGBI),
                NVJPEG_STATUS_SUCCESS);
    }
    ++batch_calls;
    b.status = rois ? nv().nvjpegDecodeBatchedEx(handle, state, data.data(), lengths.data(),
                                                 b.destinations.data(), params.data(), stream)
                    : nv().nvjpegDecodeBatched(handle, state, data.data(), lengths.data(),
                                               b.destinations.data(), stream);
    for (nvjpegDecodeParams_t p : params) nv().nvjpegDecodeParamsDestroy(p);
    return b;
  }

  // submit, then read.
  nvjpegStatus_t decode(const std::vector<Bytes>& files, cudaStream_t stream,
                        std::vector<Rgb>& out, const std::vector<Roi>* rois = nullptr) {
    Batch b = submit(files, stream, rois);
    out = read(b);
    return b.status;
  }
};

bool all(const Bytes& bytes, uint8_t value) {
  for (uint8_t b : bytes)
    if (b != value) return false;
  return !bytes.empty();
}

constexpr uint8_t kUnwritten = 0xCD;  // what the fake runtime fills fresh device memory with
constexpr unsigned kInterpolation = NVJPEG_FLAGS_UPSAMPLING_WITH_INTERPOLATION;

class Nvjpeg : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(library(), nullptr) << "IMGPREP_FAKE_NVJPEG: " << dlerror();
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    coffee = sample("objects/coffee.jpg");    // 600 x 400, 4:2:0
    gray = sample("objects/clock-gray.jpg");  // 400 x 300
    rocket = sample("space/rocket.jpg");      // 4:4:4
    chelsea = sample("animals/chelsea.jpg");  // 451 x 300, 4:2:0
    ASSERT_FALSE(coffee.empty() || gray.empty() || rocket.empty() || chelsea.empty());
  }
  void TearDown() override {
    cudaStreamDestroy(stream);
    for (const char* name : {"IMGPREP_FAKE_NVJPEG_NO_HARDWARE", "IMGPREP_FAKE_NVJPEG_UNSUPPORTED",
                             "IMGPREP_FAKE_NVJPEG_FAIL_BATCH", "IMGPREP_FAKE_NVJPEG_SKIP",
                             "IMGPREP_FAKE_NVJPEG_REPORT"})
      unsetenv(name);
  }
  cudaStream_t stream = nullptr;
  Bytes coffee, gray, rocket, chelsea;
};

TEST_F(Nvjpeg, HandlesAndHardwareSwitch) {
  int major = 0, minor = 0, patch = 0;
  EXPECT_EQ(nv().nvjpegGetProperty(MAJOR_VERSION, &major), NVJPEG_STATUS_SUCCESS);
  EXPECT_EQ(nv().nvjpegGetProperty(MINOR_VERSION, &minor), NVJPEG_STATUS_SUCCESS);
  EXPECT_EQ(nv().nvjpegGetProperty(PATCH_LEVEL, &patch), NVJPEG_STATUS_SUCCESS);
  EXPECT_EQ((std::vector<int>{major, minor, patch}), (std::vector<int>{13, 0, 4}));

  unsigned engines = 0, cores = 0;
  Decoder hardware(NVJPEG_BACKEND_HARDWARE, 0), hybrid(NVJPEG_BACKEND_GPU_HYBRID, 0);
  ASSERT_EQ(hardware.status, NVJPEG_STATUS_SUCCESS);
  ASSERT_EQ(hybrid.status, NVJPEG_STATUS_SUCCESS);
  EXPECT_EQ(nv().nvjpegGetHardwareDecoderInfo(hardware.handle, &engines, &cores),
            NVJPEG_STATUS_SUCCESS);
  EXPECT_EQ(engines, 7u);
  EXPECT_EQ(cores, 1u);
  EXPECT_NE(nv().nvjpegGetHardwareDecoderInfo(hybrid.handle, &engines, &cores),
            NVJPEG_STATUS_SUCCESS);
  EXPECT_NE(Decoder(NVJPEG_BACKEND_HYBRID, 0).status, NVJPEG_STATUS_SUCCESS);

  setenv("IMGPREP_FAKE_NVJPEG_NO_HARDWARE", "1", 1);
  EXPECT_EQ(Decoder(NVJPEG_BACKEND_HARDWARE, 0).status, NVJPEG_STATUS_ARCH_MISMATCH);
  EXPECT_EQ(Decoder(NVJPEG_BACKEND_DEFAULT, 0).status, NVJPEG_STATUS_SUCCESS);
}

TEST_F(Nvjpeg, DecodesAsTurboJpeg) {
  const std::vector<Bytes> files{coffee, gray, rocket, chelsea};
  for (nvjpegBackend_t backend : {NVJPEG_BACKEND_HARDWARE, NVJPEG_BACKEND_GPU_HYBRID}) {
    Decoder d(backend, kInterpolation);
    std::vector<Rgb> out;
    ASSERT_EQ(d.decode(files, stream, out), NVJPEG_STATUS_SUCCESS);
    for (size_t i = 0; i < files.size(); ++i)
      EXPECT_TRUE(out[i].pixels == turbo(files[i], true).pixels) << "backend " << backend
                                                                 << ", image " << i;
  }
}

TEST_F(Nvjpeg, RoiIsTheRectangleOfTheWholeImage) {
  Decoder d(NVJPEG_BACKEND_HARDWARE, kInterpolation);
  const std::vector<Roi> rois{{13, 7, 101, 55}, {}, {400 - 40, 300 - 30, 40, 30}};
  std::vector<Rgb> out;
  ASSERT_EQ(d.decode({chelsea, coffee, gray}, stream, out, &rois), NVJPEG_STATUS_SUCCESS);
  EXPECT_TRUE(out[0].pixels == turbo(chelsea, true).crop(13, 7, 101, 55).pixels);
  EXPECT_TRUE(out[1].pixels == turbo(coffee, true).pixels);
  EXPECT_TRUE(out[2].pixels == turbo(gray, true).crop(360, 270, 40, 30).pixels);
}

TEST_F(Nvjpeg, WithoutTheInterpolationFlagChromaIsReplicated) {
  Decoder d(NVJPEG_BACKEND_GPU_HYBRID, 0);
  std::vector<Rgb> out;
  ASSERT_EQ(d.decode({coffee}, stream, out), NVJPEG_STATUS_SUCCESS);
  EXPECT_TRUE(out[0].pixels == turbo(coffee, false).pixels);
  EXPECT_FALSE(out[0].pixels == turbo(coffee, true).pixels);
}

TEST_F(Nvjpeg, SupportedEx) {
  Decoder d(NVJPEG_BACKEND_HARDWARE, kInterpolation);
  EXPECT_TRUE(d.supports(coffee));
  EXPECT_TRUE(d.supports(gray));
  EXPECT_TRUE(d.supports(coffee, {0, 0, 600, 400}));
  EXPECT_FALSE(d.supports(coffee, {1, 0, 600, 400}));  // 600 x 400: one column past the edge
  EXPECT_FALSE(d.supports(sample("objects/coffee-progressive.jpg")));
  const Rgb pixels = turbo(rocket, true);
  EXPECT_TRUE(d.supports(encode(pixels, TJSAMP_440)));
  EXPECT_FALSE(d.supports(encode(pixels, TJSAMP_411)));

  setenv("IMGPREP_FAKE_NVJPEG_UNSUPPORTED", std::to_string(coffee.size()).c_str(), 1);
  EXPECT_FALSE(d.supports(coffee));
  EXPECT_TRUE(d.supports(gray));

  nvjpegJpegStream_t stream = nullptr;
  ASSERT_EQ(nv().nvjpegJpegStreamCreate(d.handle, &stream), NVJPEG_STATUS_SUCCESS);
  const std::string text = "not a JPEG file";
  EXPECT_EQ(nv().nvjpegJpegStreamParse(d.handle, reinterpret_cast<const uint8_t*>(text.data()),
                                       text.size(), 0, 0, stream),
            NVJPEG_STATUS_BAD_JPEG);
  nv().nvjpegJpegStreamDestroy(stream);
}

TEST_F(Nvjpeg, ABadFileFailsTheWholeBatch) {
  Decoder d(NVJPEG_BACKEND_HARDWARE, kInterpolation);
  const Bytes truncated(coffee.begin(), coffee.begin() + coffee.size() / 2);
  std::vector<Rgb> out;
  EXPECT_EQ(d.decode({gray, truncated}, stream, out), NVJPEG_STATUS_BAD_JPEG);
  EXPECT_TRUE(all(out[0].pixels, kUnwritten));
  EXPECT_TRUE(all(out[1].pixels, kUnwritten));
}

TEST_F(Nvjpeg, FailBatchSwitch) {
  Decoder d(NVJPEG_BACKEND_GPU_HYBRID, kInterpolation);
  setenv("IMGPREP_FAKE_NVJPEG_FAIL_BATCH", std::to_string(batch_calls + 1).c_str(), 1);
  std::vector<Rgb> out;
  EXPECT_EQ(d.decode({gray, coffee}, stream, out), NVJPEG_STATUS_EXECUTION_FAILED);
  EXPECT_TRUE(all(out[0].pixels, kUnwritten));
  EXPECT_TRUE(all(out[1].pixels, kUnwritten));
  ASSERT_EQ(d.decode({gray, coffee}, stream, out), NVJPEG_STATUS_SUCCESS);  // not sticky
  EXPECT_TRUE(out[0].pixels == turbo(gray, true).pixels);
  EXPECT_TRUE(out[1].pixels == turbo(coffee, true).pixels);
}

TEST_F(Nvjpeg, SkipSwitch) {
  Decoder d(NVJPEG_BACKEND_HARDWARE, kInterpolation);
  setenv("IMGPREP_FAKE_NVJPEG_SKIP", std::to_string(gray.size()).c_str(), 1);
  std::vector<Rgb> out;
  ASSERT_EQ(d.decode({coffee, gray}, stream, out), NVJPEG_STATUS_SUCCESS);
  EXPECT_TRUE(out[0].pixels == turbo(coffee, true).pixels);
  EXPECT_TRUE(all(out[1].pixels, kUnwritten));
}

// The copies are queued on the stream, and a second call on the state waits for them before it
// reuses its staging buffer.
TEST_F(Nvjpeg, OutputIsAsynchronous) {
  if (std::getenv("IMGPREP_FAKE_CUDA_IMMEDIATE")) GTEST_SKIP() << "stream work runs at once";
  Decoder d(NVJPEG_BACKEND_GPU_HYBRID, kInterpolation);
  Batch first = d.submit({coffee}, stream);
  ASSERT_EQ(first.status, NVJPEG_STATUS_SUCCESS);
  EXPECT_EQ(cudaStreamQuery(stream), cudaErrorNotReady);
  Batch second = d.submit({gray}, stream);  // a smaller image: the same staging buffer
  ASSERT_EQ(second.status, NVJPEG_STATUS_SUCCESS);
  EXPECT_TRUE(read(first)[0].pixels == turbo(coffee, true).pixels);
  EXPECT_TRUE(read(second)[0].pixels == turbo(gray, true).pixels);
}

long report_count(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  const std::string text(std::istreambuf_iterator<char>(in), {});
  const size_t at = text.find("\"" + key + "\": ");
  if (at == std::string::npos) return -1;
  return std::strtol(text.c_str() + at + key.size() + 4, nullptr, 10);
}

// The hardware backend ignores work queued earlier on its stream: pixels come out as 0x5A then.
TEST_F(Nvjpeg, HardwareHazardWhenTheStreamHasPendingWork) {
  if (std::getenv("IMGPREP_FAKE_CUDA_IMMEDIATE")) GTEST_SKIP() << "no work is ever pending";
  const std::string report = ::testing::TempDir() + "fake_nvjpeg_report.json";
  setenv("IMGPREP_FAKE_NVJPEG_REPORT", report.c_str(), 1);
  Decoder(NVJPEG_BACKEND_GPU_HYBRID, 0);  // writes the report at nvjpegDestroy
  const long hazards = report_count(report, "hazards");
  ASSERT_GE(hazards, 0);

  void *pinned = nullptr, *device = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, 4096), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&device, 4096), cudaSuccess);
  const auto pending_work = [&] {
    ASSERT_EQ(cudaMemcpyAsync(device, pinned, 4096, cudaMemcpyHostToDevice, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamQuery(stream), cudaErrorNotReady);
  };
  const Rgb expected = turbo(coffee, true);
  std::vector<Rgb> out;
  {
    Decoder d(NVJPEG_BACKEND_HARDWARE, kInterpolation);
    pending_work();
    ASSERT_EQ(d.decode({coffee}, stream, out), NVJPEG_STATUS_SUCCESS);
    EXPECT_TRUE(all(out[0].pixels, 0x5A));
    pending_work();
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    ASSERT_EQ(cudaStreamQuery(stream), cudaSuccess);
    ASSERT_EQ(d.decode({coffee}, stream, out), NVJPEG_STATUS_SUCCESS);
    EXPECT_TRUE(out[0].pixels == expected.pixels);
  }
  EXPECT_EQ(report_count(report, "hazards"), hazards + 1);
  {
    Decoder d(NVJPEG_BACKEND_GPU_HYBRID, kInterpolation);  // waits for the stream
    pending_work();
    ASSERT_EQ(d.decode({coffee}, stream, out), NVJPEG_STATUS_SUCCESS);
    EXPECT_TRUE(out[0].pixels == expected.pixels);
  }
  EXPECT_EQ(report_count(report, "hazards"), hazards + 1);
  cudaFree(device);
  cudaFreeHost(pinned);
}

}  // namespace

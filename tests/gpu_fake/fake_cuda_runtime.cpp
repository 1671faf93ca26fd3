// A fake CUDA runtime, in host memory, for testing the GPU engine's orchestration without a GPU.
//
// Why it exists: pipeline/src/gpu_engine.cpp (GpuStage: a ring of pinned staging slots, each with
// a stream and an event; batching in input order; delivery to the sink; failed jobs passing
// through; the partial last batch; CUDA error handling) only runs where a GPU is present, which
// most machines that build imgprep lack. Linked against this file instead of libcudart, that same
// source runs anywhere, and tests/gpu_fake/test_fake_gpu_engine.py holds its output byte-equal to
// the CPU engine's. The "kernel" here is the host per-pixel function resample_batch_pixel (what
// resample_batch_on_host runs), so this tests the orchestration, not the device code: the real
// kernel is tested on a GPU by tests/cpp/gpu_kernel_test.cpp and tests/python/test_gpu_parity.py.
//
// It implements exactly the runtime calls that gpu_engine.cpp and the kernel launch
// (kernels/include/imgprep/kernels/resample_batch_cuda.h) make, with the signatures of
// <cuda_runtime.h>; it is compiled as plain C++ and nothing links libcudart.
//
// Environment:
//   IMGPREP_FAKE_CUDA_FAIL_AFTER=N         the N-th cudaMemcpyAsync (counting from 1) fails with
//                                          cudaErrorLaunchFailure
//   IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER=N    the N-th cudaEventSynchronize fails likewise (where a
//                                          real asynchronous kernel fault would show)
//   IMGPREP_FAKE_CUDA_FAIL_LAUNCH_AFTER=N  the N-th kernel launch fails likewise
//   Each failure is sticky, as a real launch failure is: every later call fails too.
//   IMGPREP_FAKE_CUDA_DEFER=1              stream work (copies, kernels) is queued and runs only
//                                          when an event recorded after it is synchronised (or the
//                                          stream is destroyed, or memory freed): the latest a GPU
//                                          may run it. Without it, work runs at once: the earliest.
//                                          An engine that reads results before waiting, or refills
//                                          a slot still in flight, gives wrong bytes in this mode.
// Fresh allocations are filled with 0xCD, so bytes the "device" never wrote do not read as 0.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <vector>

#include "imgprep/kernels/resample_batch.h"
#include "imgprep/kernels/resample_batch_cuda.h"

// The opaque handle types of the runtime API (driver_types.h declares them, never defines them).
struct CUstream_st {
  std::vector<std::function<void()>> queued;  // deferred work, in stream order
  size_t ran = 0;                             // how many of `queued` have run
};

struct CUevent_st {
  cudaStream_t stream = nullptr;  // where it was last recorded; null: never recorded
  size_t position = 0;            // the stream work that precedes it
};

namespace {

std::mutex mutex;  // the fake's state; the engine calls from its GPU thread and the main thread
std::set<cudaStream_t> streams;
std::atomic<cudaError_t> sticky_error{cudaSuccess};
thread_local cudaError_t last_error = cudaSuccess;
long memcpy_async_calls = 0, event_sync_calls = 0, launch_calls = 0;

long env_count(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? std::strtol(value, nullptr, 10) : 0;
}

bool deferred() {
  static const bool defer = env_count("IMGPREP_FAKE_CUDA_DEFER") != 0;
  return defer;
}

cudaError_t result(cudaError_t error) {
  if (error != cudaSuccess) last_error = error;
  return error;
}

// The sticky error, or the one this call injects (the `calls`-th of a kind, counting from 1).
cudaError_t injected(long& calls, const char* variable) {
  if (sticky_error != cudaSuccess) return sticky_error;
  const long fail_at = env_count(variable);
  if (fail_at > 0 && ++calls == fail_at) sticky_error = cudaErrorLaunchFailure;
  return sticky_error;
}

// Runs stream work in order, up to (not including) position `upto`. Caller holds the mutex.
void run_until(cudaStream_t stream, size_t upto) {
  while (stream->ran < upto && stream->ran < stream->queued.size())
    stream->queued[stream->ran++]();
}

void run_all_streams() {
  for (cudaStream_t stream : streams) run_until(stream, stream->queued.size());
}

// Work on a stream: now, or queued until an event after it is synchronised.
void enqueue(cudaStream_t stream, std::function<void()> work) {
  if (!deferred() || stream == nullptr) {
    work();
    return;
  }
  stream->queued.push_back(std::move(work));
}

void* allocate(size_t size) {
  void* p = std::malloc(size ? size : 1);
  if (p) std::memset(p, 0xCD, size);
  return p;
}

}  // namespace

// ---- Errors -----------------------------------------------------------------------------------

cudaError_t cudaGetLastError() {
  const cudaError_t error = sticky_error != cudaSuccess ? sticky_error.load() : last_error;
  last_error = cudaSuccess;
  return error;
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure (injected by the fake CUDA runtime)";
    default: return "unknown error (fake CUDA runtime)";
  }
}

// ---- Devices ----------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return result(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return result(cudaErrorInvalidValue);
  if (device != 0) return result(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, "fake CUDA device", sizeof prop->name - 1);
  prop->major = 9;
  prop->minor = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (sticky_error != cudaSuccess) return result(sticky_error);
  return device == 0 ? cudaSuccess : result(cudaErrorInvalidDevice);
}

// ---- Memory -----------------------------------------------------------------------------------
// "Device" memory is host memory too. Freeing waits for all queued work, as cudaFree does.

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return result(cudaErrorInvalidValue);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  *ptr = allocate(size);
  return *ptr ? cudaSuccess : result(cudaErrorMemoryAllocation);
}

cudaError_t cudaMallocHost(void** ptr, size_t size) { return cudaMalloc(ptr, size); }

cudaError_t cudaFree(void* ptr) {
  {
    std::lock_guard lock(mutex);
    if (sticky_error == cudaSuccess) run_all_streams();
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) { return cudaFree(ptr); }

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind,
                            cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (const cudaError_t error = injected(memcpy_async_calls, "IMGPREP_FAKE_CUDA_FAIL_AFTER"))
    return result(error);
  if (!dst || !src) return result(cudaErrorInvalidValue);
  enqueue(stream, [=] { std::memcpy(dst, src, count); });
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind) {
  std::lock_guard lock(mutex);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  if (!dst || !src) return result(cudaErrorInvalidValue);
  run_all_streams();  // the legacy default stream waits for every other stream's work
  std::memcpy(dst, src, count);
  return cudaSuccess;
}

// ---- Streams and events -----------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  if (!stream) return result(cudaErrorInvalidValue);
  std::lock_guard lock(mutex);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  *stream = new CUstream_st;
  streams.insert(*stream);
  return cudaSuccess;
}

// Outstanding work completes first (the runtime releases a busy stream once it is idle).
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (!streams.erase(stream)) return result(cudaErrorInvalidResourceHandle);
  if (sticky_error == cudaSuccess) run_until(stream, stream->queued.size());
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  if (!event) return result(cudaErrorInvalidValue);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  *event = new CUevent_st;
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return result(cudaErrorInvalidResourceHandle);
  std::lock_guard lock(mutex);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  event->stream = stream;
  event->position = stream ? stream->queued.size() : 0;
  return cudaSuccess;
}

// An event never recorded has nothing to wait for (as with the real runtime).
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return result(cudaErrorInvalidResourceHandle);
  std::lock_guard lock(mutex);
  if (const cudaError_t error = injected(event_sync_calls, "IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER"))
    return result(error);
  if (event->stream) run_until(event->stream, event->position);
  return cudaSuccess;
}

// ---- The kernel -------------------------------------------------------------------------------

namespace imgprep {

// The kernel's launch, run as resample_batch_on_host does: every output pixel of every image
// through resample_batch_pixel, reading the tables from the batch's "device" staging block.
const char* launch_resample_batch(const DeviceBatch& batch, const OutputSpec& format,
                                  void* stream) {
  if (batch.image_count == 0) return nullptr;
  std::lock_guard lock(mutex);
  if (const cudaError_t error = injected(launch_calls, "IMGPREP_FAKE_CUDA_FAIL_LAUNCH_AFTER"))
    return cudaGetErrorString(error);  // as the real launch reports it: via cudaGetLastError
  enqueue(static_cast<cudaStream_t>(stream), [batch, format] {
    const BatchArrays arrays{batch.images, batch.starts, batch.weights, batch.fixed};
    for (int i = 0; i < batch.image_count; ++i) {
      const BatchImage& image = batch.images[i];
      for (int Y = 0; Y < image.out_h; ++Y)
        for (int X = 0; X < image.out_w; ++X)
          resample_batch_pixel(image, arrays, format, batch.src, batch.out, X, Y);
    }
  });
  return nullptr;
}

}  // namespace imgprep

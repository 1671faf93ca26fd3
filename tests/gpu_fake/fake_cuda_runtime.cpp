// A fake CUDA runtime, in host memory, for testing the GPU engine's orchestration without a GPU.
//
// Why it exists: pipeline/engines/gpu/gpu_engine.cpp (GpuStage: a ring of pinned staging slots,
// each with a stream and an event; batching in input order; delivery to the sink; failed jobs
// passing through; the partial last batch; CUDA error handling; probing a device) only runs where a
// GPU is present, which most machines that build imgprep lack. Linked against this file instead of
// libcudart, that same source runs anywhere, and tests/gpu_fake/test_fake_gpu_engine.py holds its
// output byte-equal to the CPU engine's. The "kernel" here is the kernel's own per-thread body
// (resample_batch_thread, resample_batch.h) run on the CPU for every block and thread of the launch
// shape the real launch uses (resample_launch_shape), so the launch configuration and the kernel's
// indexing are tested too, though not the device code's compilation: the real kernel is tested on a
// GPU by tests/gpu_kernel/gpu_kernel_test.cpp and tests/python/test_gpu_parity.py.
//
// The fake enforces what the real runtime enforces, so an engine that passes here does not fail
// on a GPU for a reason the fake could have seen:
//   - Completion is asynchronous: stream work (copies, kernels) runs only when the host must see
//     it (an event recorded after it synchronised, its stream synchronised or destroyed, cudaFree,
//     a synchronous cudaMemcpy, cudaDeviceSynchronize): the latest a GPU may run it. An engine
//     that reads results before waiting, or refills a slot still in flight, gives wrong bytes.
//   - The current device is per thread (cudaSetDevice). Allocations, streams and events belong
//     to the device current when they were made; launching a kernel on a stream of another device
//     than the calling thread's current one fails, recording an event of one device on another's
//     stream fails, and a kernel touching another device's memory faults.
//   - Device memory is not host memory: it is mapped PROT_NONE except while the fake itself runs
//     stream work, so host code that dereferences a device pointer crashes.
//   - Every copy's direction is checked against the allocation table (cudaMemcpyHostToDevice
//     must copy from host memory into one device allocation, and so on).
//   - A launch whose grid or block exceeds CUDA's limits fails as a real one does.
//
// It implements the runtime calls that gpu_engine.cpp, gpu_memory.cpp, the bench, the kernel
// launches (resample_batch_cuda.h, upright.h: the upright kernel's body is upright_thread, run the
// same way), tests/gpu_kernel/gpu_batches_test.cpp and the fake nvJPEG (fake_nvjpeg.cpp) make,
// with the signatures of <cuda_runtime.h>; it is compiled as plain C++ and nothing links
// libcudart. It is a shared library (libimgprep_fake_cudart.so) so that there is one fake device
// per process: the fake nvJPEG, loaded at run time as the engine loads the real libnvjpeg, finds
// the same allocations, streams and errors as the program that loaded it. Besides the runtime API
// it exports imgprep_fake_cuda_stream_idle for the fake nvJPEG.
//
// Environment:
//   IMGPREP_FAKE_CUDA_IMMEDIATE=1          stream work runs at once, when it is enqueued: the
//                                          earliest a GPU may run it (the default defers it)
//   IMGPREP_FAKE_CUDA_DEVICES=N            N devices (default 1), all "fake CUDA device"
//   IMGPREP_FAKE_CUDA_CC=M.m               their compute capability (default 9.0)
//   IMGPREP_FAKE_CUDA_UNAVAILABLE=d1,d2    these devices fail context creation (cudaFree(nullptr),
//                                          any allocation, stream or event) with
//                                          cudaErrorDevicesUnavailable, as an exclusive-process
//                                          device in use or a prohibited one does
//   IMGPREP_FAKE_CUDA_NO_KERNEL_IMAGE=d1,… the kernel cannot load on these devices (a build
//                                          without code for their architecture):
//                                          resample_kernel_unavailable() and launches report
//                                          cudaErrorNoKernelImageForDevice
//   IMGPREP_FAKE_CUDA_FAIL_AFTER=N         the N-th cudaMemcpyAsync (counting from 1) fails with
//                                          cudaErrorLaunchFailure
//   IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER=N    the N-th cudaEventSynchronize fails likewise (where a
//                                          real asynchronous kernel fault would show)
//   IMGPREP_FAKE_CUDA_FAIL_LAUNCH_AFTER=N  the N-th kernel launch fails likewise
//   Each failure is sticky, as a real launch failure is: every later call fails too.
//   IMGPREP_FAKE_CUDA_REPORT=PATH          write a JSON object of what the process did
//                                          (allocations, copies by direction, launches, waits
//                                          that would spin a core, ...) and on which devices, at
//                                          exit and whenever something is released
// Fresh allocations are filled with 0xCD, so bytes the "device" never wrote do not read as 0.
#include <cuda_runtime.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "imgprep/kernels/resample_batch.h"
#include "imgprep/kernels/resample_batch_cuda.h"
#include "imgprep/kernels/upright.h"

// The opaque handle types of the runtime API (driver_types.h declares them, never defines them).
struct CUstream_st {
  int device = 0;
  std::vector<std::function<void()>> queued;  // deferred work, in stream order
  std::vector<bool> is_launch;                // parallel to queued
  size_t ran = 0;                             // how many of `queued` have run
};

struct CUevent_st {
  int device = 0;
  unsigned flags = 0;
  cudaStream_t stream = nullptr;  // where it was last recorded; null: never recorded
  size_t position = 0;            // the stream work that precedes it
};

namespace {

// ---- Configuration ----------------------------------------------------------------------------

long env_count(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? std::strtol(value, nullptr, 10) : 0;
}

std::set<int> env_devices(const char* name) {
  std::set<int> devices;
  const char* value = std::getenv(name);
  if (!value) return devices;
  std::stringstream list(value);
  for (std::string item; std::getline(list, item, ',');)
    if (!item.empty()) devices.insert(std::atoi(item.c_str()));
  return devices;
}

bool immediate() {
  static const bool now = env_count("IMGPREP_FAKE_CUDA_IMMEDIATE") != 0;
  return now;
}

int device_count() {
  static const int count = std::getenv("IMGPREP_FAKE_CUDA_DEVICES")
                               ? static_cast<int>(env_count("IMGPREP_FAKE_CUDA_DEVICES"))
                               : 1;
  return count;
}

bool unavailable(int device) {
  static const std::set<int> devices = env_devices("IMGPREP_FAKE_CUDA_UNAVAILABLE");
  return devices.count(device) != 0;
}

bool no_kernel_image(int device) {
  static const std::set<int> devices = env_devices("IMGPREP_FAKE_CUDA_NO_KERNEL_IMAGE");
  return devices.count(device) != 0;
}

// ---- State (all under `mutex`, but for the thread's own current device and last error) -------

std::mutex mutex;  // the engine calls from its GPU thread and the main thread
std::atomic<cudaError_t> sticky_error{cudaSuccess};
thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = 0;  // cudaSetDevice's, per host thread as in the runtime
std::set<cudaStream_t> streams;
std::set<cudaEvent_t> events;
long memcpy_async_calls = 0, event_sync_calls = 0, launch_calls = 0;  // for failure injection

// What the process did, for IMGPREP_FAKE_CUDA_REPORT: a count and the devices it happened on.
struct Tally {
  long count = 0, bytes = 0;
  std::set<int> devices;
  void add(int device, long n = 0) {
    ++count;
    bytes += n;
    devices.insert(device);
  }
};
struct Report {
  Tally device_allocations, pinned_allocations, frees, streams, events, launches, event_syncs,
      spin_waits, pageable_async_copies;
  std::map<std::string, Tally> memcpy_async;  // by direction
  long max_queued_launches = 0;  // most kernels queued and not yet run on one stream
  long queued_launches = 0, max_queued_launches_all = 0;  // the same over all streams
  void write() const;  // to IMGPREP_FAKE_CUDA_REPORT; the caller holds `mutex`
  ~Report() {
    std::lock_guard lock(mutex);
    write();
  }
} report;

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

// A device's context is created on first use (cudaFree(nullptr) forces it); on a device that is
// busy (exclusive-process, in use) or prohibited that fails, and so does every later use.
cudaError_t context_error() {
  if (sticky_error != cudaSuccess) return sticky_error;
  return unavailable(current_device) ? cudaErrorDevicesUnavailable : cudaSuccess;
}

// ---- The allocation table ---------------------------------------------------------------------
// Device memory is mapped PROT_NONE: host code cannot touch it. The fake opens it (read-write)
// only while it runs stream work under `mutex`, as only the device may access device memory.

struct Allocation {
  uint8_t* base = nullptr;
  size_t size = 0, mapped = 0;  // asked for; mapped (whole pages, device memory only)
  bool device = false;          // cudaMalloc; else pinned host memory (cudaMallocHost/HostAlloc)
  int owner = 0;                // the device current when it was made
};
std::map<const uint8_t*, Allocation> allocations;  // by base
int device_memory_open = 0;                        // nesting of DeviceMemoryOpen

void protect(const Allocation& a, bool open) {
  if (mprotect(a.base, a.mapped, open ? PROT_READ | PROT_WRITE : PROT_NONE) != 0) std::abort();
}

struct DeviceMemoryOpen {
  DeviceMemoryOpen() {
    if (device_memory_open++ == 0)
      for (auto& [base, a] : allocations)
        if (a.device) protect(a, true);
  }
  ~DeviceMemoryOpen() {
    if (--device_memory_open == 0)
      for (auto& [base, a] : allocations)
        if (a.device) protect(a, false);
  }
};

// The allocation holding [p, p + size), or null (also when the range runs past its end).
const Allocation* allocation_of(const void* p, size_t size = 1) {
  const auto* at = static_cast<const uint8_t*>(p);
  auto it = allocations.upper_bound(at);
  if (it == allocations.begin()) return nullptr;
  const Allocation& a = std::prev(it)->second;
  const size_t offset = static_cast<size_t>(at - a.base);
  return offset < a.size && size <= a.size - offset ? &a : nullptr;
}

bool in_device_memory(const void* p, size_t size) {
  const auto* at = static_cast<const uint8_t*>(p);
  for (const uint8_t* q : {at, at + (size ? size - 1 : 0)})
    if (const Allocation* a = allocation_of(q); a && a->device) return true;
  return false;
}

const Allocation* device_allocation(const void* p, size_t size) {
  const Allocation* a = allocation_of(p, size);
  return a && a->device ? a : nullptr;
}

bool pinned(const void* p, size_t size) {
  const Allocation* a = allocation_of(p, size);
  return a && !a->device;
}

cudaError_t add_allocation(void** ptr, size_t size, bool device) {
  if (!ptr) return cudaErrorInvalidValue;
  if (const cudaError_t error = context_error()) return error;
  Allocation a;
  a.size = size ? size : 1;
  a.device = device;
  a.owner = current_device;
  if (device) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    a.mapped = (a.size + page - 1) / page * page;
    void* p = mmap(nullptr, a.mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return cudaErrorMemoryAllocation;
    a.base = static_cast<uint8_t*>(p);
    std::memset(a.base, 0xCD, a.size);
    if (device_memory_open == 0) protect(a, false);
    report.device_allocations.add(a.owner, static_cast<long>(size));
  } else {
    a.base = static_cast<uint8_t*>(std::malloc(a.size));
    if (!a.base) return cudaErrorMemoryAllocation;
    std::memset(a.base, 0xCD, a.size);
    report.pinned_allocations.add(a.owner, static_cast<long>(size));
  }
  allocations[a.base] = a;
  *ptr = a.base;
  return cudaSuccess;
}

cudaError_t remove_allocation(void* ptr, bool device) {
  const auto it = allocations.find(static_cast<const uint8_t*>(ptr));
  if (it == allocations.end() || it->second.device != device) return cudaErrorInvalidValue;
  const Allocation a = it->second;
  allocations.erase(it);
  if (device)
    munmap(a.base, a.mapped);
  else
    std::free(a.base);
  report.frees.add(a.owner);
  report.write();
  return cudaSuccess;
}

// ---- Streams ----------------------------------------------------------------------------------

// Runs stream work in order, up to (not including) position `upto`. Caller holds the mutex.
void run_until(cudaStream_t stream, size_t upto) {
  if (stream->ran >= upto || stream->ran >= stream->queued.size()) return;
  DeviceMemoryOpen open;
  while (stream->ran < upto && stream->ran < stream->queued.size()) {
    report.queued_launches -= stream->is_launch[stream->ran];
    auto work = std::move(stream->queued[stream->ran++]);
    if (sticky_error == cudaSuccess) work();  // after a fault the device runs nothing more
  }
}

void run_stream(cudaStream_t stream) { run_until(stream, stream->queued.size()); }

// Whether `stream` has work queued that has not run; for the legacy default stream, whether any
// stream of the current device has. Caller holds the mutex.
bool has_unrun_work(cudaStream_t stream) {
  if (stream) return stream->ran < stream->queued.size();
  for (cudaStream_t s : streams)
    if (s->device == current_device && s->ran < s->queued.size()) return true;
  return false;
}

// Every stream of `device` (-1: of every device), as a device-wide synchronisation does.
void run_all_streams(int device = -1) {
  for (cudaStream_t stream : streams)
    if (device < 0 || stream->device == device) run_stream(stream);
}

// A live stream (the null stream is the legacy default stream of the current device).
cudaError_t check_stream(cudaStream_t stream) {
  return stream == nullptr || streams.count(stream) ? cudaSuccess
                                                    : cudaErrorInvalidResourceHandle;
}

int device_of(cudaStream_t stream) { return stream ? stream->device : current_device; }

// A stream a kernel may be launched on: a live one of the calling thread's current device. The
// CUDA programming guide ("Stream and Event Behavior"): a kernel launch fails if issued to a
// stream not associated with the current device; a memory copy succeeds.
cudaError_t check_launch_stream(cudaStream_t stream) {
  if (const cudaError_t error = check_stream(stream)) return error;
  return device_of(stream) == current_device ? cudaSuccess : cudaErrorInvalidResourceHandle;
}

// Work on a stream: queued until the host must see it, or run now in IMMEDIATE mode. Work on the
// legacy default stream waits for the device's other streams and completes before the call
// returns, as with a real (blocking) stream.
void enqueue(cudaStream_t stream, std::function<void()> work, bool launch) {
  if (immediate() || stream == nullptr) {
    if (stream == nullptr) run_all_streams(current_device);
    DeviceMemoryOpen open;
    if (sticky_error == cudaSuccess) work();
    if (launch) {
      report.max_queued_launches = std::max(report.max_queued_launches, 1L);
      report.max_queued_launches_all = std::max(report.max_queued_launches_all, 1L);
    }
    return;
  }
  stream->queued.push_back(std::move(work));
  stream->is_launch.push_back(launch);
  long queued = 0;
  for (size_t i = stream->ran; i < stream->queued.size(); ++i) queued += stream->is_launch[i];
  report.max_queued_launches = std::max(report.max_queued_launches, queued);
  report.queued_launches += launch;
  report.max_queued_launches_all =
      std::max(report.max_queued_launches_all, report.queued_launches);
}

// ---- Copies -----------------------------------------------------------------------------------

const char* direction_name(cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return "HostToHost";
    case cudaMemcpyHostToDevice: return "HostToDevice";
    case cudaMemcpyDeviceToHost: return "DeviceToHost";
    case cudaMemcpyDeviceToDevice: return "DeviceToDevice";
    default: return "Default";
  }
}

// The copy's direction, checked against where dst and src lie (cudaMemcpyDefault: inferred from
// it, as with unified addressing). A range that is not where its kind says is
// cudaErrorInvalidValue, as the runtime reports it; so is a device range that runs past the end
// of its allocation.
cudaError_t copy_direction(void* dst, const void* src, size_t count, cudaMemcpyKind& kind) {
  if (!dst || !src) return cudaErrorInvalidValue;
  if (kind == cudaMemcpyDefault) {
    const bool to = in_device_memory(dst, count), from = in_device_memory(src, count);
    kind = to ? (from ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
              : (from ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  }
  const bool dst_ok = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice
                          ? device_allocation(dst, count) != nullptr
                          : !in_device_memory(dst, count);
  const bool src_ok = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice
                          ? device_allocation(src, count) != nullptr
                          : !in_device_memory(src, count);
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDeviceToDevice) return cudaErrorInvalidValue;
  return dst_ok && src_ok ? cudaSuccess : cudaErrorInvalidValue;
}

// An async copy with a host side in pageable memory: the runtime stages it through its own
// pinned buffer and the call is (in effect) synchronous, which stalls the engine's pipeline.
bool pageable(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (kind == cudaMemcpyHostToDevice) return !pinned(src, count);
  if (kind == cudaMemcpyDeviceToHost) return !pinned(dst, count);
  return false;
}

// ---- The kernel launch -----------------------------------------------------------------------

// CUDA's launch limits (any device of compute capability 5.0 or later).
bool valid_launch(const imgprep::LaunchShape& s) {
  const auto& g = s.grid;
  const auto& b = s.block;
  if (!g.x || !g.y || !g.z || !b.x || !b.y || !b.z) return false;
  if (g.x > 2147483647u || g.y > 65535u || g.z > 65535u) return false;
  if (b.x > 1024u || b.y > 1024u || b.z > 64u) return false;
  return uint64_t{b.x} * b.y * b.z <= 1024u;
}

// Whether [p, p + size) lies in one device allocation of `device` (a kernel dereferencing
// anything else faults: cudaErrorIllegalAddress).
bool on_device(const void* p, size_t size, int device) {
  const Allocation* a = device_allocation(p, size);
  return a && a->owner == device;
}

// Whether every array the resample kernel reads or writes starts in device memory of `device`.
bool batch_on_device(const imgprep::BatchView& b, int device) {
  return on_device(b.src, 1, device) &&
         on_device(b.images, sizeof(imgprep::BatchImage) * b.image_count, device) &&
         on_device(b.starts, 1, device) && on_device(b.weights, 1, device) &&
         on_device(b.fixed, 1, device) && on_device(b.out, 1, device);
}

// Whether the bytes the upright kernel touches for `im` lie in device memory of `device`: from
// the first to the last RGB pixel of the stored rectangle that holds its window (read from the
// decoded rectangle at (x0, y0), rows of src_pitch bytes), and its RGBX window. Checked when the
// kernel runs, since the image table is device memory that an earlier copy on the stream fills.
bool upright_image_on_device(const imgprep::UprightView& view, const imgprep::UprightImage& im,
                             int device) {
  if (im.dst_w <= 0 || im.dst_h <= 0) return true;  // the kernel touches nothing
  const imgprep::PixelRect r = imgprep::stored_rect(im.orientation, im.stored_w, im.stored_h,
                                                    {im.u0, im.v0, im.dst_w, im.dst_h});
  const int64_t first = int64_t{r.y - im.y0} * im.src_pitch + int64_t{r.x - im.x0} * 3;
  const int64_t end = int64_t{r.y + r.height - 1 - im.y0} * im.src_pitch +
                      int64_t{r.x + r.width - im.x0} * 3;
  if (end <= first) return false;
  const uintptr_t src = reinterpret_cast<uintptr_t>(view.src) + im.src;
  const auto* read_from = reinterpret_cast<const void*>(src + static_cast<uintptr_t>(first));
  return on_device(read_from, static_cast<size_t>(end - first), device) &&
         on_device(view.dst + im.dst, uint64_t{4} * static_cast<uint64_t>(im.dst_w) *
                                          static_cast<uint64_t>(im.dst_h), device);
}

void run_grid(const imgprep::BatchView& batch, const imgprep::OutputSpec& format,
              const imgprep::LaunchShape& shape) {
  using imgprep::LaunchDim;
  imgprep::for_each_launch_thread(shape, [&](LaunchDim block, LaunchDim thread) {
    imgprep::resample_batch_thread(batch, format, shape, block, thread);
  });
}

// The upright kernel, or the fault it would raise on an image whose pixels are not all in
// device memory of `device` (then it writes nothing).
void run_upright_grid(const imgprep::UprightView& view, const imgprep::LaunchShape& shape,
                      int device) {
  for (int i = 0; i < view.count; ++i)
    if (!upright_image_on_device(view, view.images[i], device)) {
      sticky_error = cudaErrorIllegalAddress;
      return;
    }
  using imgprep::LaunchDim;
  imgprep::for_each_launch_thread(shape, [&](LaunchDim block, LaunchDim thread) {
    imgprep::upright_thread(view, shape, block, thread);
  });
}

// ---- The report -------------------------------------------------------------------------------

std::string json(const Tally& t, bool bytes = false) {
  std::string s = "{\"count\": " + std::to_string(t.count);
  if (bytes) s += ", \"bytes\": " + std::to_string(t.bytes);
  s += ", \"devices\": [";
  const char* sep = "";
  for (int d : t.devices) {
    s += sep + std::to_string(d);
    sep = ", ";
  }
  return s + "]}";
}

// Written at exit, and also whenever the engine releases something (a free, a stream or event
// destroyed): `imgprep bench` measures each tier in a forked child that ends with _exit, which
// runs no exit handler. A process that made nothing on a device (the bench's parent) writes
// nothing, so it does not overwrite its child's report. Written whole, then renamed into place.
void Report::write() const {
  const char* path = std::getenv("IMGPREP_FAKE_CUDA_REPORT");
  if (!path || !*path) return;
  if (!device_allocations.count && !pinned_allocations.count && !streams.count && !events.count)
    return;
  std::string s = "{\n";
  s += "  \"device_allocations\": " + json(device_allocations, true) + ",\n";
  s += "  \"pinned_allocations\": " + json(pinned_allocations, true) + ",\n";
  s += "  \"frees\": " + json(frees) + ",\n";
  s += "  \"streams\": " + json(streams) + ",\n";
  s += "  \"events\": " + json(events) + ",\n";
  s += "  \"memcpy_async\": {";
  const char* sep = "";
  for (const auto& [direction, tally] : memcpy_async) {
    s += sep + ("\"" + direction + "\": ") + json(tally, true);
    sep = ", ";
  }
  s += "},\n";
  s += "  \"pageable_async_copies\": " + json(pageable_async_copies) + ",\n";
  s += "  \"launches\": " + json(launches) + ",\n";
  s += "  \"event_syncs\": " + json(event_syncs) + ",\n";
  s += "  \"spin_waits\": " + json(spin_waits) + ",\n";
  s += "  \"max_queued_launches\": " + std::to_string(max_queued_launches) + ",\n";
  s += "  \"max_queued_launches_all_streams\": " + std::to_string(max_queued_launches_all) +
       ",\n";
  s += "  \"mode\": \"" + std::string(immediate() ? "immediate" : "deferred") + "\"\n}\n";
  const std::string temporary = std::string(path) + ".tmp" + std::to_string(getpid());
  if (FILE* f = std::fopen(temporary.c_str(), "w")) {
    std::fputs(s.c_str(), f);
    std::fclose(f);
    std::rename(temporary.c_str(), path);
  }
}

}  // namespace

// ---- Errors -----------------------------------------------------------------------------------

cudaError_t cudaGetLastError() {
  const cudaError_t error = sticky_error != cudaSuccess ? sticky_error.load() : last_error;
  last_error = cudaSuccess;
  return error;
}

cudaError_t cudaPeekAtLastError() {
  return sticky_error != cudaSuccess ? sticky_error.load() : last_error;
}

// The real runtime's texts, but for the injected failure, which says it was injected.
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorNoKernelImageForDevice:
      return "no kernel image is available for execution on the device";
    case cudaErrorDevicesUnavailable: return "CUDA-capable device(s) is/are busy or unavailable";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure (injected by the fake CUDA runtime)";
    default: return "unknown error (fake CUDA runtime)";
  }
}

// ---- Devices ----------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return result(cudaErrorInvalidValue);
  *count = device_count();
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return result(cudaErrorInvalidValue);
  if (device < 0 || device >= device_count()) return result(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, "fake CUDA device", sizeof prop->name - 1);
  const char* cc = std::getenv("IMGPREP_FAKE_CUDA_CC");
  prop->major = 9;
  prop->minor = 0;
  if (cc && *cc) std::sscanf(cc, "%d.%d", &prop->major, &prop->minor);
  prop->totalGlobalMem = size_t{16} << 30;
  prop->multiProcessorCount = 4;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->unifiedAddressing = 1;
  return cudaSuccess;
}

// Sets the calling thread's current device (no context is created here; cudaFree(nullptr) or
// the first allocation, stream or event does that).
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return result(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return result(cudaErrorInvalidValue);
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  std::lock_guard lock(mutex);
  if (const cudaError_t error = context_error()) return result(error);
  run_all_streams(current_device);
  return result(sticky_error.load());
}

// ---- Memory -----------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** ptr, size_t size) {
  std::lock_guard lock(mutex);
  return result(add_allocation(ptr, size, true));
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  std::lock_guard lock(mutex);
  return result(add_allocation(ptr, size, false));
}

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) {
  std::lock_guard lock(mutex);
  return result(add_allocation(ptr, size, false));
}

// cudaFree waits for the device's work first. cudaFree(nullptr) frees nothing but creates the
// current device's context (the usual way to force that): it fails on an unavailable device.
cudaError_t cudaFree(void* ptr) {
  std::lock_guard lock(mutex);
  if (!ptr) return result(context_error());
  run_all_streams();
  if (const cudaError_t error = remove_allocation(ptr, true)) return result(error);
  return result(sticky_error.load());  // freed, but a fault still shows
}

cudaError_t cudaFreeHost(void* ptr) {
  std::lock_guard lock(mutex);
  run_all_streams();
  return ptr ? result(remove_allocation(ptr, false)) : cudaSuccess;
}

// Device or pinned memory of the fake's allocations; any other address is unregistered host
// memory, as for a real runtime.
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  if (!attributes) return result(cudaErrorInvalidValue);
  std::lock_guard lock(mutex);
  *attributes = cudaPointerAttributes{};
  attributes->type = cudaMemoryTypeUnregistered;
  attributes->device = -2;
  if (const Allocation* a = allocation_of(ptr)) {
    attributes->type = a->device ? cudaMemoryTypeDevice : cudaMemoryTypeHost;
    attributes->device = a->owner;
    (a->device ? attributes->devicePointer : attributes->hostPointer) = const_cast<void*>(ptr);
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  if (!free || !total) return result(cudaErrorInvalidValue);
  *total = size_t{16} << 30;
  *free = *total / 2;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (const cudaError_t error = injected(memcpy_async_calls, "IMGPREP_FAKE_CUDA_FAIL_AFTER"))
    return result(error);
  // A copy may go to a stream of another device than the current one (the programming guide).
  if (const cudaError_t error = check_stream(stream)) return result(error);
  if (const cudaError_t error = copy_direction(dst, src, count, kind)) return result(error);
  const int device = device_of(stream);
  report.memcpy_async[direction_name(kind)].add(device, static_cast<long>(count));
  if (pageable(dst, src, count, kind)) {
    // Allowed, but synchronous: the stream's earlier work and the copy complete now.
    report.pageable_async_copies.add(device);
    if (stream) run_stream(stream);
    DeviceMemoryOpen open;
    std::memcpy(dst, src, count);
    return cudaSuccess;
  }
  enqueue(stream, [=] { std::memcpy(dst, src, count); }, false);
  return cudaSuccess;
}

// Synchronous, on the legacy default stream: waits for the device's other work first.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  std::lock_guard lock(mutex);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  if (const cudaError_t error = copy_direction(dst, src, count, kind)) return result(error);
  run_all_streams(current_device);
  DeviceMemoryOpen open;
  std::memcpy(dst, src, count);
  return cudaSuccess;
}

// ---- Streams and events -----------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  if (!stream) return result(cudaErrorInvalidValue);
  std::lock_guard lock(mutex);
  if (const cudaError_t error = context_error()) return result(error);
  *stream = new CUstream_st;
  (*stream)->device = current_device;
  streams.insert(*stream);
  report.streams.add(current_device);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}

// Outstanding work completes first (the runtime releases a busy stream once it is idle).
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (!streams.erase(stream)) return result(cudaErrorInvalidResourceHandle);
  run_stream(stream);
  for (cudaEvent_t event : events)
    if (event->stream == stream) event->stream = nullptr;  // its work is done
  delete stream;
  report.write();
  return cudaSuccess;
}

// Reports without running anything (cudaEventQuery runs the work it waits for): the stream is
// busy until something makes the host see its work. So a loop polling a busy stream never ends
// in the default deferred mode; the engine waits with events or cudaStreamSynchronize.
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (const cudaError_t error = check_stream(stream)) return result(error);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  return has_unrun_work(stream) ? cudaErrorNotReady : cudaSuccess;
}

cudaError_t cudaStreamGetDevice(cudaStream_t stream, int* device) {
  if (!device) return result(cudaErrorInvalidValue);
  std::lock_guard lock(mutex);
  if (const cudaError_t error = check_stream(stream)) return result(error);
  *device = device_of(stream);
  return cudaSuccess;
}

// For the fake nvJPEG: 1 when `stream` (or, for the legacy default stream, every stream of the
// calling thread's current device) has no queued work that has not run, else 0. A stream that
// does not exist has none.
extern "C" int imgprep_fake_cuda_stream_idle(cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (stream && !streams.count(stream)) return 1;
  return has_unrun_work(stream) ? 0 : 1;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (stream && !streams.count(stream)) return result(cudaErrorInvalidResourceHandle);
  if (stream)
    run_stream(stream);
  else
    run_all_streams(current_device);
  return result(sticky_error.load());
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (!event) return result(cudaErrorInvalidValue);
  std::lock_guard lock(mutex);
  if (const cudaError_t error = context_error()) return result(error);
  *event = new CUevent_st;
  (*event)->device = current_device;
  (*event)->flags = flags;
  events.insert(*event);
  report.events.add(current_device);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  return cudaEventCreateWithFlags(event, cudaEventDefault);
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard lock(mutex);
  if (!events.erase(event)) return result(cudaErrorInvalidResourceHandle);
  delete event;
  report.write();
  return cudaSuccess;
}

// The event and the stream must be of the same device (the programming guide: cudaEventRecord
// fails if they are associated with different devices).
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard lock(mutex);
  if (!events.count(event)) return result(cudaErrorInvalidResourceHandle);
  if (sticky_error != cudaSuccess) return result(sticky_error);
  if (const cudaError_t error = check_stream(stream)) return result(error);
  if (event->device != device_of(stream)) return result(cudaErrorInvalidResourceHandle);
  if (stream == nullptr) run_all_streams(current_device);  // the legacy stream: all done now
  event->stream = stream;
  event->position = stream ? stream->queued.size() : 0;
  return cudaSuccess;
}

// An event never recorded has nothing to wait for (as with the real runtime). Without
// cudaEventBlockingSync the real runtime spins the calling thread on a core while it waits:
// counted as spin_waits, which the engine must not do.
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  std::lock_guard lock(mutex);
  if (!events.count(event)) return result(cudaErrorInvalidResourceHandle);
  if (const cudaError_t error = injected(event_sync_calls, "IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER"))
    return result(error);
  report.event_syncs.add(event->device);
  if (!(event->flags & cudaEventBlockingSync)) report.spin_waits.add(event->device);
  if (event->stream) run_until(event->stream, event->position);
  return result(sticky_error.load());  // a fault in the work waited for shows here
}

// Polling completes the work (a poll loop must end, and the work may have run by now anyway).
cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::lock_guard lock(mutex);
  if (!events.count(event)) return result(cudaErrorInvalidResourceHandle);
  if (event->stream) run_until(event->stream, event->position);
  return result(sticky_error.load());
}

// ---- The kernel -------------------------------------------------------------------------------

namespace imgprep {

// The current device cannot load the kernel (no code for its architecture in this build).
const char* resample_kernel_unavailable() {
  return no_kernel_image(current_device)
             ? cudaGetErrorString(cudaErrorNoKernelImageForDevice)
             : nullptr;
}

// What every launch checks before it enqueues, in the real runtime's order: an injected failure,
// the context, the stream's device, the kernel image, the launch shape. Returns the error's text
// as cudaGetLastError reports it, or nullptr (and counts the launch). Called under `mutex`.
static const char* refused_launch(cudaStream_t stream, const LaunchShape& shape) {
  const auto fail = [](cudaError_t error) {
    result(error);
    return cudaGetErrorString(cudaGetLastError());
  };
  if (const cudaError_t error = injected(launch_calls, "IMGPREP_FAKE_CUDA_FAIL_LAUNCH_AFTER"))
    return fail(error);
  if (const cudaError_t error = context_error()) return fail(error);
  if (const cudaError_t error = check_launch_stream(stream)) return fail(error);
  if (no_kernel_image(current_device)) return fail(cudaErrorNoKernelImageForDevice);
  if (!valid_launch(shape)) return fail(cudaErrorInvalidConfiguration);
  report.launches.add(current_device);
  return nullptr;
}

// The kernel's launch, as the real one (resample_batch.cu) makes it: the shape from
// resample_launch_shape, refused (cudaErrorInvalidConfiguration) beyond CUDA's limits, then
// resample_batch_thread run for every thread of every block when the stream reaches it. Errors
// come back as the real launch reports them: cudaGetLastError's text.
const char* launch_resample_batch(const BatchView& batch, const OutputSpec& format,
                                  void* stream_handle) {
  if (batch.image_count == 0) return nullptr;
  const auto stream = static_cast<cudaStream_t>(stream_handle);
  std::lock_guard lock(mutex);
  const LaunchShape shape = resample_launch_shape(batch);
  if (const char* error = refused_launch(stream, shape)) return error;
  // Touching memory outside the device's allocations is a fault when the kernel runs: the launch
  // succeeds, the error is sticky and shows at the next call that waits (or any later call).
  if (!batch_on_device(batch, current_device)) {
    enqueue(stream, [] { sticky_error = cudaErrorIllegalAddress; }, true);
    return nullptr;
  }
  enqueue(stream, [batch, format, shape] { run_grid(batch, format, shape); }, true);
  return nullptr;
}

// The upright kernel's launch, made and checked like launch_resample_batch's: the shape from
// upright_launch_shape, then upright_thread run for every thread of every block when the stream
// reaches it. An image table, source rectangle or window outside the device's allocations is a
// fault of the running kernel (see upright_image_on_device).
const char* launch_upright(const UprightView& view, void* stream_handle) {
  if (view.count == 0) return nullptr;
  const auto stream = static_cast<cudaStream_t>(stream_handle);
  std::lock_guard lock(mutex);
  const LaunchShape shape = upright_launch_shape(view);
  if (const char* error = refused_launch(stream, shape)) return error;
  const int device = current_device;
  if (view.count < 0 ||
      !on_device(view.images, sizeof(UprightImage) * static_cast<size_t>(view.count), device)) {
    enqueue(stream, [] { sticky_error = cudaErrorIllegalAddress; }, true);
    return nullptr;
  }
  enqueue(stream, [view, shape, device] { run_upright_grid(view, shape, device); }, true);
  return nullptr;
}

}  // namespace imgprep

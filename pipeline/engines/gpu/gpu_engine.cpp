#include "imgprep/engines/gpu_engine.h"

#include <cuda_runtime.h>

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <cstring>
#include <optional>
#include <unordered_map>

#include "../src/cpu_graph.h"
#include "gpu_batch_decode.h"
#include "gpu_jpeg_decoder.h"
#include "imgprep/kernels/cuda_resources.h"
#include "imgprep/kernels/resample_batch_cuda.h"

namespace imgprep {
namespace {

constexpr int kRing = 3;  // batches in flight: one filling, two copying/computing

using cuda::check;

constexpr char kAllocating[] = "allocating GPU buffers";  // a failed buffer's error

// One staging slot of the ring: a batch's host and device buffers (grow-only: sized by the
// largest batch seen, then reused), its stream and the event that tells when its results are
// back (and the slot may be refilled). The host thread waiting on the event sleeps (blocking
// sync) instead of spinning a core that decoding needs.
struct Slot {
  cuda::Stream stream;
  cuda::Event done{cudaEventDisableTiming | cudaEventBlockingSync};
  BatchTables tables;
  cuda::PinnedGrowBuffer host_in, host_out;  // pixels then tables; tensors
  cuda::DeviceGrowBuffer device_in, device_out;
  std::vector<Job*> jobs;
  std::vector<int> image_of;  // per job: its index in tables.images(), -1 if it has none
  GpuDecodeBuffers decoding;  // --decode gpu
};

// Where each job's tensor stays in a run that keeps outputs on the device: a buffer per job slot,
// reused by every image that slot carries, so the ring's slots can be refilled while the caller
// still holds the tensors of their last batch.
using DeviceOutputs = std::unordered_map<const Job*, cuda::DeviceGrowBuffer>;

// The CUDA tier's build architectures, for the reason a device cannot run this build.
#ifndef IMGPREP_CUDA_ARCHITECTURES
#define IMGPREP_CUDA_ARCHITECTURES "unknown"
#endif

}  // namespace

struct GpuEngine::Ring {
  Slot slots[kRing];
  DeviceOutputs outputs;
  std::unique_ptr<GpuJpegDecoder> jpeg;  // made by the first run with --decode gpu
};

namespace {

class GpuStage {
 public:
  GpuStage(EngineRun& run, SinkStage& sink, JobSlots& slots, Slot (&ring)[kRing],
           DeviceOutputs& outputs, int device, int batch)
      : run_(run),
        sink_(sink),
        slots_(slots),
        ring_(ring),
        outputs_(outputs),
        batch_(batch),
        cpu_(run.options.resolved_threads()),
        thread_(run, Stage::transform, batch * 2,
                {.start = [this, device] { start(device); },
                 .job = [this](Job* job) { take(job); },
                 .end = [this] { drain(); },
                 .failed = [this] { release_ring(); }}) {}

  void push(Job* job) { thread_.push(job); }  // in input order

  // --decode gpu, before the first push: what the GPU's decoder gives back is decoded on the
  // CPU tier's threads.
  void decode_with(GpuJpegDecoder& jpeg) {
    gpu_decode_.emplace(jpeg, run_.stats, [this](std::span<Job* const> jobs) {
      in_parallel(jobs.size(), [&](size_t i) {
        run_.processor.decode_and_plan(*jobs[i], scratch_.local(), run_.stats, false);
      });
    });
  }
  void finish() { thread_.finish(); }

 private:
  // The current device is per thread: this one copies and launches on it too.
  void start(int device) {
    thread_.attempt([&] { check(cudaSetDevice(device), "cudaSetDevice"); });
  }

  void take(Job* job) {
    pending_.push_back(job);
    if (static_cast<int>(pending_.size()) == batch_) submit_pending();
  }

  // The last, partial batch, then every batch still in flight.
  void drain() {
    submit_pending();
    for (int i = 0; i < kRing; ++i)
      thread_.attempt([&] {
        StageTimer timer(run_.stats, Stage::transform);
        deliver(ring_[(next_ + i) % kRing]);
      });
  }

  void submit_pending() {
    thread_.attempt([&] {
      StageTimer timer(run_.stats, Stage::transform);
      submit(pending_);
    });
    release(pending_);  // empty unless the batch was never submitted
  }

  // After a CUDA failure every job still returns to its slot, once and unwritten.
  void release_ring() {
    for (Slot& slot : ring_) release(slot.jobs);
  }

  void release(std::vector<Job*>& jobs) {
    for (Job* job : jobs) slots_.release(job);
    jobs.clear();
  }

  // body(i) for i in [0, n), spread over the CPU tier's threads (this thread among them).
  template <class Body>
  void in_parallel(size_t n, const Body& body) {
    cpu_.execute([&] { oneapi::tbb::parallel_for(size_t{0}, n, body); });
  }

  // Takes the jobs (pending is left empty) once the slot's previous batch is delivered.
  void submit(std::vector<Job*>& pending) {
    if (pending.empty()) return;
    const int slot_index = next_;
    Slot& slot = ring_[slot_index];
    next_ = (next_ + 1) % kRing;
    deliver(slot);  // waits for the batch that used this slot before
    slot.jobs.swap(pending);
    if (gpu_decode_) gpu_decode_->decode(slot.jobs, slot.decoding, slot_index, slot.stream);

    const OutputSpec& format = run_.processor.spec();
    slot.tables.clear();
    slot.image_of.clear();
    batch_jobs_.clear();
    for (Job* job : slot.jobs) {
      const bool computed = job->ok() && !job->cancelled;
      slot.image_of.push_back(computed ? static_cast<int>(batch_jobs_.size()) : -1);
      if (!computed) continue;
      slot.tables.add(job->decoded.width, job->decoded.height, job->plan, job->out_w, job->out_h,
                      format);
      batch_jobs_.push_back(job);
    }
    const std::vector<const Job*>& batch = batch_jobs_;
    if (batch.empty()) return;
    const BatchTables& t = slot.tables;

    const size_t in_bytes = t.staging_bytes();
    uint8_t* in = slot.host_in.reserve(in_bytes, kAllocating);
    in_parallel(batch.size(), [&](size_t i) {
      if (batch[i]->gpu_decoded) return;  // its pixels are on the device
      const BatchImage& image = t.images()[i];
      std::memcpy(in + image.src, batch[i]->decoded.pixels.data(),
                  static_cast<size_t>(image.src_w) * image.src_h * 4);
    });
    t.pack_tables(in);

    uint8_t* device_in = slot.device_in.reserve(in_bytes, kAllocating);
    uint8_t* device_out = slot.device_out.reserve(t.out_bytes(), kAllocating);
    check(cudaMemcpyAsync(device_in, in, in_bytes, cudaMemcpyHostToDevice, slot.stream),
          "copy to the GPU");
    if (gpu_decode_)
      gpu_decode_->upright(slot.jobs, slot.image_of, t, device_in, slot.decoding, slot.stream);
    if (const char* error = launch_resample_batch(t.device_view(device_in, device_out), format,
                                                  slot.stream))
      throw GpuError(std::string("kernel launch: ") + error);
    if (run_.outputs_on_device)
      keep_on_device(batch, t, device_out, slot.stream);
    else
      check(cudaMemcpyAsync(slot.host_out.reserve(t.out_bytes(), kAllocating), device_out,
                            t.out_bytes(), cudaMemcpyDeviceToHost, slot.stream),
            "copy from the GPU");
    slot.done.record(slot.stream);
  }

  // Each tensor of the batch into its job's own device buffer, on the batch's stream.
  void keep_on_device(const std::vector<const Job*>& batch, const BatchTables& t,
                      const uint8_t* device_out, cudaStream_t stream) {
    for (size_t i = 0; i < batch.size(); ++i) {
      const BatchImage& im = t.images()[i];
      const size_t bytes = run_.processor.spec().sized(im.out_w, im.out_h).bytes();
      uint8_t* kept = outputs_[batch[i]].reserve(bytes, kAllocating);
      check(cudaMemcpyAsync(kept, device_out + im.out, bytes, cudaMemcpyDeviceToDevice, stream),
            "copy on the GPU");
    }
  }

  // Waits for the slot's batch; its tensors (and files) are made on the CPU tier's threads, then
  // its jobs go to the sink stage in order.
  void deliver(Slot& slot) {
    if (slot.jobs.empty()) return;
    check(cudaEventSynchronize(slot.done), "GPU batch");
    // The jobs leave the slot before any is handed on, so each is released exactly once: by
    // the sink, or below if making their outputs fails.
    std::vector<Job*>& jobs = delivering_;
    jobs.swap(slot.jobs);
    try {
      in_parallel(jobs.size(), [&](size_t i) {
        const int image = slot.image_of[i];
        if (image < 0) return;
        Job& job = *jobs[i];
        if (run_.outputs_on_device) {
          job.device_output = outputs_.at(&job).data();
          return;
        }
        const BatchImage& im = slot.tables.images()[static_cast<size_t>(image)];
        const OutputSpec spec = run_.processor.spec().sized(im.out_w, im.out_h);
        job.output.resize(spec.bytes());
        std::memcpy(job.output.data(), slot.host_out.data() + im.out, spec.bytes());
        run_.processor.finish_output(job);
      });
    } catch (...) {
      release(jobs);
      throw;
    }
    for (Job* job : jobs) sink_.push(job);
    jobs.clear();
  }

  EngineRun& run_;
  SinkStage& sink_;
  JobSlots& slots_;
  Slot (&ring_)[kRing];
  DeviceOutputs& outputs_;  // used only by this stage's thread
  const int batch_;
  oneapi::tbb::task_arena cpu_;  // packing and unpacking: as many threads as decoding
  int next_ = 0;
  std::vector<Job*> pending_;           // the batch filling
  std::vector<const Job*> batch_jobs_;  // the jobs of the batch being packed that have pixels
  std::vector<Job*> delivering_;        // the jobs of the batch being handed on
  oneapi::tbb::enumerable_thread_specific<Scratch> scratch_;  // CPU decoding of what the GPU
                                                              // gives back
  std::optional<GpuBatchDecode> gpu_decode_;  // --decode gpu
  StageThread thread_;
};

// How many images the GPU engine keeps in flight for a batch size (the job slots it needs): a
// batch filling, kRing in flight, plus what the readers and decoders hold.
int gpu_in_flight(const Options& options, int batch) {
  return batch * (kRing + 1) + options.in_flight_for(options.resolved_threads());
}

std::string device_name(int device, const cudaDeviceProp& prop) {
  return std::string(prop.name) + ", device " + std::to_string(device);
}

}  // namespace

GpuProbe probe_gpu(int device) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error == cudaErrorInsufficientDriver)
    return {false, "no usable NVIDIA driver (missing, or older than this CUDA runtime)"};
  if (error == cudaErrorNoDevice || (error == cudaSuccess && count == 0))
    return {false, "no CUDA device"};
  if (error != cudaSuccess)
    return {false, std::string("CUDA unavailable: ") + cudaGetErrorString(error)};
  if (device < 0 || device >= count)
    return {false, "no CUDA device " + std::to_string(device) + " (" + std::to_string(count) +
                       " present)"};
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess)
    return {false, "cannot query CUDA device " + std::to_string(device)};
  // Making the context is where a busy exclusive-process device or a prohibited one refuses.
  cudaError_t context = cudaSetDevice(device);
  if (context == cudaSuccess) context = cudaFree(nullptr);
  if (context != cudaSuccess) {
    cudaGetLastError();
    return {false, "cannot use CUDA device " + std::to_string(device) + ": " +
                       cudaGetErrorString(context) + " (" + device_name(device, prop) + ")"};
  }
  if (const char* why = resample_kernel_unavailable())
    return {false, "this build's GPU code cannot run on CUDA device " + std::to_string(device) +
                       ": " + why + " (" + device_name(device, prop) + ", compute capability " +
                       std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                       "; built for CUDA architectures " IMGPREP_CUDA_ARCHITECTURES ")"};
  return {true, device_name(device, prop)};
}

GpuProbe probe_gpu_decode(int device) {
  const GpuProbe gpu = probe_gpu(device);  // leaves the device current
  if (!gpu.usable) return gpu;
  try {
    const GpuJpegDecoder decoder(1);
    return {true, decoder.description()};
  } catch (const GpuError& e) {
    return {false, e.what()};
  }
}

GpuEngine::GpuEngine(const Options& options) : device_(options.device), batch_(options.batch) {
  const GpuProbe probe = probe_gpu(device_);  // the context and the kernel's module, loaded now
  if (!probe.usable) throw GpuError(probe.description);
  description_ = probe.description;
  ring_ = std::make_unique<Ring>();
}

GpuEngine::~GpuEngine() = default;

void GpuEngine::run(EngineRun& run) {
  check(cudaSetDevice(device_), "cudaSetDevice");
  JobSlots slots(gpu_in_flight(run.options, batch_));
  SinkStage sink(run, slots);
  if (run.outputs_on_device && !writes_tensors(run.options.format))
    throw UsageError("tensors kept on the GPU need tensor output (npy or wds)");
  ring_->outputs.clear();  // the buffers of another run's job slots
  if (run.options.decode == DecodeOn::gpu && !ring_->jpeg)
    ring_->jpeg = std::make_unique<GpuJpegDecoder>(kRing);
  GpuStage gpu(run, sink, slots, ring_->slots, ring_->outputs, device_, batch_);
  if (run.options.decode == DecodeOn::gpu) gpu.decode_with(*ring_->jpeg);
  run_cpu_graph(
      run, slots,
      [&](Job& job, Scratch& scratch) { run.processor.decode_and_plan(job, scratch, run.stats); },
      [&](Job* job) { gpu.push(job); });
  gpu.finish();
  sink.finish();
}

void run_gpu_engine(EngineRun& run) { GpuEngine(run.options).run(run); }

}  // namespace imgprep

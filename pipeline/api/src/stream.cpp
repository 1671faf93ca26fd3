// process_images and ImageStream: the engines with a sink that hands each image to the caller
// instead of writing it.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "imgprep/core/engine_run.h"
#include "imgprep/core/output_options.h"
#include "imgprep/core/output_sink.h"
#include "imgprep/engines/engines.h"
#include "imgprep/engines/gpu_memory.h"
#include "imgprep/imgprep.h"
#include "job_parts.h"

namespace imgprep {
namespace {

// Hands each job, in input order, to the callback; once the callback has said stop, drops the
// rest (the engines finish the images already in flight).
class CallbackSink final : public OutputSink {
 public:
  CallbackSink(const std::function<bool(const ProcessedImage&)>& on_image,
               std::atomic<bool>& stop)
      : on_image_(on_image), stop_(stop) {}

  void consume(Job& job) override {
    if (refused_) return;
    ProcessedImage image;
    image.index = job.seq;
    image.input = job.item;
    if (job.ok()) {
      image.data = {job.output.data(), job.output.size()};
      image.device_data = job.device_output;
      image.width = job.out_w;
      image.height = job.out_h;
    }
    image.source_width = job.width;
    image.source_height = job.height;
    image.error = job.error;
    image.warning = job.warning;
    image.box = job.box;
    image.flipped = job.flipped;
    if (!on_image_(image)) {
      refused_ = true;
      stop_ = true;
    }
  }
  nlohmann::json finish() override { return nlohmann::json::object(); }
  void interrupt() override {}

 private:
  const std::function<bool(const ProcessedImage&)>& on_image_;
  std::atomic<bool>& stop_;
  bool refused_ = false;
};

}  // namespace

StreamSummary process_images(const std::vector<InputItem>& inputs, const Options& options,
                             const std::function<bool(const ProcessedImage&)>& on_image,
                             JobStop* external_stop, TensorPlace place) {
  JobStop own_stop;
  JobStop& stop = external_stop ? *external_stop : own_stop;
  validate(options);
  const EngineChoice engine = choose_engine(options);
  const bool on_device = place == TensorPlace::device;
  if (on_device && (engine.kind != EngineKind::gpu || !writes_tensors(options.format)))
    throw UsageError("tensors on the GPU need the GPU engine (engine gpu) and tensor output");
  configure_codecs(options.max_pixels);
  require_codecs_for(options, inputs);

  const ImageProcessor processor(options);
  CallbackSink sink(on_image, stop.flag());
  RunStats stats;
  stats.total = static_cast<int64_t>(inputs.size());
  const auto start = std::chrono::steady_clock::now();
  EngineRun run{inputs, options, processor, sink, stats, stop.flag(), on_device};
  run_engine(engine.kind, run);

  StreamSummary summary;
  summary.engine = engine.line;
  summary.failed = stats.failed.load();
  summary.processed = stats.done.load() - summary.failed;
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.stopped = stop.flag().load() && summary.processed + summary.failed <
                                              static_cast<int64_t>(inputs.size());
  return summary;
}

ImageStream::ImageStream(std::vector<InputItem> inputs, Options options, size_t depth)
    : inputs_(std::move(inputs)), options_(std::move(options)), ready_(depth) {
  thread_ = std::thread([this] {
    try {
      process_images(
          inputs_, options_,
          [this](const ProcessedImage& image) {
            return ready_.push({image.index, Bytes(image.data.begin(), image.data.end()),
                                image.width, image.height, image.source_width,
                                image.source_height, std::string(image.error),
                                std::string(image.warning), image.box, image.flipped});
          },
          &stop_);
      ready_.finish();
    } catch (...) {
      ready_.finish(std::current_exception());
    }
  });
}

void ImageStream::close() {
  stop_.request();
  ready_.close();
  if (thread_.joinable()) thread_.join();
}

BatchBuffers::~BatchBuffers() {
  for (uint8_t* buffer : free_) release(buffer, device_);
}

void BatchBuffers::release(uint8_t* buffer, int device) {
  if (device < 0)
    delete[] buffer;
  else
    gpu_free(buffer, device);
}

std::shared_ptr<uint8_t[]> BatchBuffers::take(size_t bytes) {
  uint8_t* buffer = nullptr;
  std::vector<uint8_t*> unusable;
  {
    std::lock_guard lock(mutex_);
    if (bytes_ != bytes) unusable.swap(free_);  // another size: those buffers are of no use
    bytes_ = bytes;
    if (!free_.empty()) {
      buffer = free_.back();
      free_.pop_back();
    }
  }
  for (uint8_t* b : unusable) release(b, device_);
  try {
    if (!buffer)
      buffer = device_ < 0 ? new uint8_t[bytes] : gpu_allocate(bytes, device_);
    else if (device_ >= 0)
      gpu_wait_idle(device_);
  } catch (...) {
    if (buffer) release(buffer, device_);
    throw;
  }
  std::weak_ptr<BatchBuffers> pool = weak_from_this();
  const int device = device_;
  return std::shared_ptr<uint8_t[]>(buffer, [pool, bytes, device](uint8_t* b) {
    if (const std::shared_ptr<BatchBuffers> p = pool.lock())
      p->give_back(b, bytes);
    else
      release(b, device);  // the pool is gone
  });
}

void BatchBuffers::give_back(uint8_t* buffer, size_t bytes) {
  {
    std::lock_guard lock(mutex_);
    if (bytes == bytes_ && free_.size() < keep_) {
      free_.push_back(buffer);
      return;
    }
  }
  release(buffer, device_);
}

BatchStream::BatchStream(std::vector<InputItem> inputs, Options options, size_t batch_size,
                         size_t prefetch, std::shared_ptr<BatchBuffers> buffers)
    : inputs_(std::move(inputs)),
      options_(std::move(options)),
      batch_size_(std::max<size_t>(batch_size, 1)),
      buffers_(buffers ? std::move(buffers)
                       : std::make_shared<BatchBuffers>(std::max<size_t>(prefetch, 1) + 2)),
      ready_(prefetch) {
  thread_ = std::thread([this] {
    try {
      const OutputSpec spec = make_output_spec(options_);
      const size_t bytes = spec.bytes();
      if (!writes_tensors(options_.format) || bytes == 0)
        throw UsageError("batches need tensors of one size: a crop, a WxH or letterbox resize, "
                         "or a RandomResizedCrop");
      const int device = buffers_->device();
      if (device >= 0 && options_.device != device)
        throw UsageError("batch buffers on CUDA device " + std::to_string(device) +
                         " for a GPU engine on device " + std::to_string(options_.device));
      std::optional<GpuCopier> copier;  // tensors on the device: into the batch there
      if (device >= 0) copier.emplace(device);
      const auto fits = [&](const ProcessedImage& image) {
        return copier ? image.device_data && image.width == spec.width &&
                            image.height == spec.height
                      : image.data.size() == bytes;
      };
      Batch batch;
      const auto start_batch = [&] {
        batch = Batch{};
        batch.tensors = buffers_->take(batch_size_ * bytes);
        batch.device = device;
      };
      start_batch();
      size_t seen = 0;  // inputs of the batch in progress
      process_images(
          inputs_, options_,
          [&](const ProcessedImage& image) {
            uint8_t* slot = batch.tensors.get() + batch.count * bytes;
            if (image.ok() && fits(image)) {
              if (copier)
                copier->copy(slot, image.device_data, bytes);
              else
                std::memcpy(slot, image.data.data(), bytes);
              ++batch.count;
              batch.labels.push_back(image.input->label);
              batch.keys.push_back(image.input->key);
              batch.boxes.push_back(image.box);
              batch.flipped.push_back(image.flipped);
            } else {
              batch.failed.push_back(
                  {image.index, image.ok() ? "unexpected tensor size" : std::string(image.error)});
            }
            if (++seen < batch_size_ && image.index + 1 < inputs_.size()) return true;
            seen = 0;
            if (!ready_.push(std::move(batch))) return false;
            start_batch();
            return true;
          },
          &stop_, device >= 0 ? TensorPlace::device : TensorPlace::host);
      ready_.finish();
    } catch (...) {
      ready_.finish(std::current_exception());
    }
  });
}

void BatchStream::close() {
  stop_.request();
  ready_.close();
  if (thread_.joinable()) thread_.join();
}

}  // namespace imgprep

// process_images and ImageStream: the engines with a sink that hands each image to the caller
// instead of writing it.
#include <algorithm>
#include <chrono>

#include "imgprep/core/engine_run.h"
#include "imgprep/core/output_sink.h"
#include "imgprep/engines/engines.h"
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
      image.width = job.out_w;
      image.height = job.out_h;
    }
    image.source_width = job.width;
    image.source_height = job.height;
    image.error = job.error;
    image.warning = job.warning;
    if (!on_image_(image)) {
      refused_ = true;
      stop_ = true;
    }
  }
  nlohmann::json finish() override { return nlohmann::json::object(); }
  void interrupt() override {}

  bool refused() const { return refused_; }

 private:
  const std::function<bool(const ProcessedImage&)>& on_image_;
  std::atomic<bool>& stop_;
  bool refused_ = false;
};

}  // namespace

StreamSummary process_images(const std::vector<InputItem>& inputs, const Options& options,
                             const std::function<bool(const ProcessedImage&)>& on_image,
                             JobStop* external_stop) {
  JobStop own_stop;
  JobStop& stop = external_stop ? *external_stop : own_stop;
  validate(options);
  const EngineChoice engine = choose_engine(options);
  configure_codecs(options.max_pixels);
  require_codecs_for(options, inputs);

  const ImageProcessor processor(options);
  CallbackSink sink(on_image, stop.flag());
  RunStats stats;
  stats.total = static_cast<int64_t>(inputs.size());
  const auto start = std::chrono::steady_clock::now();
  EngineRun run{inputs, options, processor, sink, stats, stop.flag()};
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
    : inputs_(std::move(inputs)), options_(std::move(options)), depth_(std::max<size_t>(depth, 1)) {
  thread_ = std::thread([this] { produce(); });
}

ImageStream::~ImageStream() { close(); }

void ImageStream::produce() {
  try {
    process_images(
        inputs_, options_,
        [this](const ProcessedImage& image) {
          StreamedImage owned{image.index,
                              Bytes(image.data.begin(), image.data.end()),
                              image.width,
                              image.height,
                              image.source_width,
                              image.source_height,
                              std::string(image.error),
                              std::string(image.warning)};
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return ready_.size() < depth_ || stop_.reason() != 0; });
          if (stop_.reason() != 0) return false;
          ready_.push_back(std::move(owned));
          changed_.notify_all();
          return true;
        },
        &stop_);
  } catch (...) {
    std::lock_guard lock(mutex_);
    error_ = std::current_exception();
  }
  std::lock_guard lock(mutex_);
  done_ = true;
  changed_.notify_all();
}

std::optional<StreamedImage> ImageStream::next() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || done_; });
  if (ready_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return std::nullopt;
  }
  StreamedImage image = std::move(ready_.front());
  ready_.pop_front();
  changed_.notify_all();
  return image;
}

void ImageStream::close() {
  {
    std::lock_guard lock(mutex_);
    stop_.request();
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace imgprep

// imgprep's library API: what the imgprep command runs, and the one seam for bindings (the Python
// package) and drivers (a cluster's tasks).
//   resolve_config   a preset plus named overrides, by the command's rules  -> Options
//   plan_job         what a job would take: its engine and its listed, labelled inputs
//   run_job          what `imgprep run` does                                 -> JobSummary
//   merge_parts      what `imgprep merge` does: --shard parts joined into one dataset
//   process_images   inputs in, each image's tensor (or its error) handed to a callback in input
//                    order as it is ready, with bounded memory; ImageStream is its pull form.
// Errors that end a call are exceptions: UsageError (bad options), InputError (INPUT), OutputError
// (OUT, the disk), GpuError, WorkerError. A bad image never is: it is a failed row or image.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgprep/codecs/bytes.h"
#include "imgprep/core/augment.h"
#include "imgprep/core/engine_kind.h"
#include "imgprep/core/options.h"
#include "imgprep/core/run_stats.h"
#include "imgprep/datasets/input_list.h"
#include "imgprep/outputs/parts.h"

namespace imgprep {

// ---- Configuration --------------------------------------------------------------------------

// Which command's options: bench has no output, engine choice, resume or error limit.
enum class ConfigFor { run, bench };

// A value as given, with its number already read for the settings that take one.
struct SettingValue {
  const std::string& text;
  int64_t integer = 0;
  double number = 0;
};

// One option of the command, by its long name.
struct Setting {
  enum class Kind { text, flag, integer, big_integer, number };
  const char* name;        // without the dashes: "resize", "io-threads"
  const char* short_name;  // "q" for -q; nullptr when none
  const char* group;       // its section of --help
  const char* help;
  Kind kind;               // flag: takes no value; integer: int; big_integer: int64
  bool run_only;           // not an option of bench
  void (*apply)(Options&, const SettingValue&);
  const char* bench_help = nullptr;  // bench's help, where it differs
};
// Every setting, in the order the command lists them (and applies them: --no-upscale after
// --resize).
std::span<const Setting> settings();

// A setting by name ("io-threads" or "io_threads"), its value as on the command line; a flag's
// value is "true" (or empty) to set it and "false" to leave it as the preset has it.
struct Override {
  std::string name;
  std::string value;
};

// Defaults, then the preset (none when empty), then the overrides in settings() order. Throws
// UsageError, with the command's message, for an unknown preset or setting, a bad value, and a
// setting the job would ignore (--quality with npy output, --workers without procs...). Input and
// output paths are left empty for the caller to set.
Options resolve_config(const std::string& preset, const std::vector<Override>& overrides,
                       ConfigFor use = ConfigFor::run);

// ---- Whole jobs -----------------------------------------------------------------------------

// Stops a job early, from another thread or from a signal handler (request() is
// async-signal-safe): what is complete is kept, and the same job with resume continues it.
class JobStop {
 public:
  static constexpr int kByCaller = -1;  // a reason that is no signal
  void request(int reason = kByCaller) noexcept {
    int none = 0;
    reason_.compare_exchange_strong(none, reason);
    stop_.store(true);
  }
  int reason() const noexcept { return reason_.load(); }  // 0 until requested
  // What the engines poll: also set when --max-errors is exceeded or a stage fails.
  std::atomic<bool>& flag() noexcept { return stop_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> reason_{0};
};

// The engine a job takes and why, in one line ("engine cpu (tbb: 8 threads; no GPU: ...)").
struct EngineChoice {
  EngineKind kind = EngineKind::tbb;
  std::string line;
};

// What a job would do, found without decoding or writing anything.
struct JobPlan {
  EngineChoice engine;
  InputList inputs;  // listed, labelled and sliced (--shard) as the job will take them
};
// Validates the options, chooses the engine (--engine auto: the GPU when usable; --engine gpu
// without one throws UsageError), checks that OUT lies apart from INPUT and lists the inputs.
JobPlan plan_job(const Options& options);

// What a job did, as data.
struct JobSummary {
  std::string engine;              // the engine line
  int64_t inputs = 0;              // the job's inputs (after --shard), resumed ones included
  int64_t processed = 0;           // succeeded in this call
  int64_t failed = 0;              // failed in this call
  int64_t failed_in_all = 0;       // failed, with those of the interrupted calls it resumed
  int64_t gpu_decoded = 0;         // --decode gpu: decoded by the GPU's decoder in this call
  int64_t gpu_decode_fallbacks = 0;  // ...and given back by it to the CPU
  size_t skipped = 0;              // files of INPUT's walk that are no image
  double seconds = 0;              // wall time of the engine
  double busy_seconds[static_cast<int>(Stage::count)] = {};  // per Stage, all threads together
  std::vector<std::string> warnings;  // the walk's: unreadable folders, symlink loops
  bool already_complete = false;   // resume of a complete OUT: nothing was done
  bool stopped_early = false;      // more than max_errors inputs failed
  int interrupted = 0;             // JobStop's reason when it stopped the job, else 0
  int64_t resumable_from = 0;      // when interrupted: inputs in complete shards (npy)
  nlohmann::json output;           // meta.json's "output": files, shards, sizes
  std::filesystem::path manifest;  // OUT/manifest.jsonl

  double images_per_second() const {
    return seconds > 0 ? static_cast<double>(processed + failed) / seconds : 0.0;
  }
  // `imgprep run`'s: 0 all succeeded; 1 some failed or stopped early; 128 + the signal when
  // interrupted by one.
  int exit_code() const;
};

// Runs a whole job (options.input into options.output) as `imgprep run` does: the same files,
// byte for byte. Progress goes to stderr unless options.quiet; nothing else is printed. `stop`
// (optional) interrupts it. options.dry_run is refused: plan_job describes a job instead.
JobSummary run_job(const Options& options, JobStop* stop = nullptr);

// ---- Streaming ------------------------------------------------------------------------------

// One processed input, as process_images hands it over; the views last until the callback
// returns.
// Where process_images leaves each tensor: in host memory (ProcessedImage::data), or in the GPU
// engine's device memory (ProcessedImage::device_data: engine gpu, npy output).
enum class TensorPlace { host, device };

struct ProcessedImage {
  size_t index = 0;                   // its position in the inputs
  const InputItem* input = nullptr;
  std::span<const uint8_t> data;      // the tensor (options' layout, dtype and channels; no
                                      // header), or the encoded file for format images; empty
                                      // when failed or on the device
  const uint8_t* device_data = nullptr;  // TensorPlace::device: the tensor in the memory of
                                         // options.device (valid during the call), else null
  int width = 0, height = 0;          // the tensor's or image file's size
  int source_width = 0, source_height = 0;  // the input's, upright; 0 when unknown
  std::string_view error;             // why it failed; empty when it succeeded
  std::string_view warning;           // e.g. a corrupt-but-decodable JPEG
  CropBox box;                        // options.augment's draw: the source box, and the flip
  bool flipped = false;
  bool ok() const { return error.empty(); }
};

struct StreamSummary {
  std::string engine;
  int64_t processed = 0, failed = 0;
  double seconds = 0;
  bool stopped = false;  // the callback, max_errors or `stop` ended it before the last input
};

// Processes `inputs` with the engine the options choose (engine, cpu_engine, device, batch,
// threads, in_flight), calling on_image from one thread, in input order, as each is ready. At
// most the options' in-flight images are held besides the one being handed over, however many
// inputs. on_image returns false to stop: no image after it is handed over. Throws what ends a
// run (UsageError for bad options, GpuError, WorkerError, or what on_image throws). The procs
// engine starts workers from this executable (its main() must hand kWorkerArgument to
// run_procs_worker, as imgprep's does) or from the one set_worker_executable names.
// options.augment applies per input, keyed by InputItem::key.
StreamSummary process_images(const std::vector<InputItem>& inputs, const Options& options,
                             const std::function<bool(const ProcessedImage&)>& on_image,
                             JobStop* stop = nullptr, TensorPlace place = TensorPlace::host);

// An image of an ImageStream, owning its bytes.
struct StreamedImage {
  size_t index = 0;
  Bytes data;
  int width = 0, height = 0;
  int source_width = 0, source_height = 0;
  std::string error, warning;
  CropBox box;
  bool flipped = false;
  bool ok() const { return error.empty(); }
};

// A bounded queue from one producer thread to one consumer. push() waits while it is full and
// returns false once the consumer has closed it; pop() waits while it is empty and returns
// nullopt after the producer's finish() (rethrowing the error it finished with).
template <class T>
class Handoff {
 public:
  explicit Handoff(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

  bool push(T item) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    changed_.notify_all();
    return true;
  }
  void finish(std::exception_ptr error = nullptr) {
    std::lock_guard lock(mutex_);
    finished_ = true;
    error_ = error;
    changed_.notify_all();
  }
  // Whether pop() would return at once, waiting at most `timeout` for it.
  bool ready_within(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return !items_.empty() || finished_; });
  }
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !items_.empty() || finished_; });
    if (items_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return std::nullopt;
    }
    T item = std::move(items_.front());
    items_.pop_front();
    changed_.notify_all();
    return item;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> items_;
  bool finished_ = false, closed_ = false;
  std::exception_ptr error_;
};

// process_images as a pull iterator: the engine runs on a thread of its own from construction,
// and at most `depth` processed images wait for next() (besides the engine's own in-flight
// ones). Destroying it (or close()) stops the engine and waits for its threads.
class ImageStream {
 public:
  ImageStream(std::vector<InputItem> inputs, Options options, size_t depth = 8);
  ~ImageStream() { close(); }
  ImageStream(const ImageStream&) = delete;
  ImageStream& operator=(const ImageStream&) = delete;

  // The next image in input order, waiting for it; nullopt after the last. Rethrows what ended
  // the run early.
  std::optional<StreamedImage> next() { return ready_.pop(); }
  // Stops the engine (images in flight are dropped) and waits for it. Idempotent.
  void close();

 private:
  const std::vector<InputItem> inputs_;
  const Options options_;
  JobStop stop_;
  Handoff<StreamedImage> ready_;
  std::thread thread_;  // last: starts once everything above exists
};

// Consecutive inputs in batches of their tensors, for a training loader: batch b holds the
// inputs b * batch_size ... (b + 1) * batch_size - 1 that succeeded, in order.
struct Batch {
  std::shared_ptr<uint8_t[]> tensors;  // `count` tensors of the options' fixed size, back to
                                       // back
  int device = -1;                     // where: host memory, else this CUDA device's
  size_t count = 0;
  std::vector<int64_t> labels;   // per tensor
  std::vector<uint64_t> keys;    // per tensor: its input's key
  std::vector<CropBox> boxes;    // per tensor: the augmentation's draw
  std::vector<uint8_t> flipped;
  struct Failure {
    size_t index;  // in the inputs
    std::string error;
  };
  std::vector<Failure> failed;  // the batch's inputs left out
};

// Batch buffers, reused once their last holder (a tensor in the caller's hands) lets go: a new
// buffer of a few hundred MB would cost a page fault per 4 KiB on every batch. Shared by the
// streams of successive epochs; keeps at most `keep` free buffers, of the last size asked for.
// In host memory, or (device >= 0) in that CUDA device's memory: a device buffer is written
// again only after the device has finished the work queued before (the caller's kernels may
// still be reading it when it lets go).
class BatchBuffers : public std::enable_shared_from_this<BatchBuffers> {
 public:
  explicit BatchBuffers(size_t keep, int device = -1) : keep_(keep), device_(device) {}
  ~BatchBuffers();
  BatchBuffers(const BatchBuffers&) = delete;
  BatchBuffers& operator=(const BatchBuffers&) = delete;

  std::shared_ptr<uint8_t[]> take(size_t bytes);
  int device() const { return device_; }  // -1: host memory

 private:
  void give_back(uint8_t* buffer, size_t bytes);
  static void release(uint8_t* buffer, int device);  // frees it

  const size_t keep_;
  const int device_;
  std::mutex mutex_;
  size_t bytes_ = 0;
  std::vector<uint8_t*> free_;
};

// process_images in batches: the engine runs on a thread of its own from construction, and at
// most `prefetch` batches wait for next(). The options need a fixed output size (npy). Batch
// memory comes from `buffers` (a pool of host memory when none is given); with buffers on a
// device, the GPU engine makes the batches there (options engine gpu on that device) and
// they never pass through host memory.
// Destroying it (or close()) stops the engine and waits for its threads.
class BatchStream {
 public:
  BatchStream(std::vector<InputItem> inputs, Options options, size_t batch_size,
              size_t prefetch = 2, std::shared_ptr<BatchBuffers> buffers = nullptr);
  ~BatchStream() { close(); }
  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  std::optional<Batch> next() { return ready_.pop(); }  // nullopt after the last batch
  // Whether next() would return at once, waiting at most `timeout` for it.
  bool ready_within(std::chrono::milliseconds timeout) { return ready_.ready_within(timeout); }
  void close();

 private:
  const std::vector<InputItem> inputs_;
  const Options options_;
  const size_t batch_size_;
  const std::shared_ptr<BatchBuffers> buffers_;
  JobStop stop_;
  Handoff<Batch> ready_;
  std::thread thread_;  // last
};

}  // namespace imgprep

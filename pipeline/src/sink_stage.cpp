#include "imgprep/pipeline/sink_stage.h"

namespace imgprep {
void sink_job(EngineRun& run, Job& job) {
  if (job.cancelled) return;
  {
    StageTimer timer(run.stats, Stage::write);
    run.sink.consume(job);
  }
  if (!job.ok()) {
    const int64_t failed = run.stats.failed.fetch_add(1) + 1;
    if (run.options.max_errors >= 0 && failed > run.options.max_errors) run.stop = true;
  }
  run.stats.done.fetch_add(1);
}

SinkStage::SinkStage(EngineRun& run, JobSlots& slots) : run_(run), slots_(slots) {
  queue_.set_capacity(static_cast<std::ptrdiff_t>(slots.count()) + 1);
  thread_ = std::thread([this] { work(); });
}

SinkStage::~SinkStage() {
  if (thread_.joinable()) {
    queue_.push(nullptr);
    thread_.join();
  }
}

void SinkStage::push(Job* job) {
  run_.stats.enqueue(Stage::write);
  queue_.push(job);
}

void SinkStage::finish() {
  queue_.push(nullptr);
  thread_.join();
  if (error_) std::rethrow_exception(error_);
}

void SinkStage::work() {
  for (;;) {
    Job* job = nullptr;
    queue_.pop(job);
    if (!job) return;
    run_.stats.dequeue(Stage::write);
    if (!error_) {
      try {
        sink_job(run_, *job);
      } catch (...) {
        error_ = std::current_exception();
        run_.stop = true;
      }
    }
    slots_.release(job);
  }
}

}  // namespace imgprep

#include "imgprep/engines/sink_stage.h"

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

SinkStage::SinkStage(EngineRun& run, JobSlots& slots)
    : run_(run),
      slots_(slots),
      thread_(run, Stage::write, static_cast<std::ptrdiff_t>(slots.count()) + 1,
              {.job = [this](Job* job) {
                thread_.attempt([&] { sink_job(run_, *job); });
                slots_.release(job);
              }}) {}

}  // namespace imgprep

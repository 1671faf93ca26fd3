#include "imgprep/engines/serial_engine.h"

#include "imgprep/engines/read_pool.h"
#include "imgprep/engines/sink_stage.h"

namespace imgprep {

void run_serial_engine(EngineRun& run) {
  Job job;
  Scratch scratch;
  for (size_t i = 0; i < run.items.size() && !run.stop.load(); ++i) {
    job.reset(i, &run.items[i]);
    read_input(run.options, run.stats, job);
    run.processor.process(job, scratch, run.stats);
    job.drop_encoded();
    sink_job(run, job);
  }
}

}  // namespace imgprep

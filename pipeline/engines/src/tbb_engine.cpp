#include "imgprep/engines/tbb_engine.h"

#include "cpu_graph.h"

namespace imgprep {

void run_tbb_engine(EngineRun& run) {
  JobSlots slots(run.options.in_flight_for(run.options.resolved_threads()));
  SinkStage sink(run, slots);
  run_cpu_graph(
      run, slots, [&](Job& job, Scratch& scratch) { run.processor.process(job, scratch, run.stats); },
      [&](Job* job) { sink.push(job); });
  sink.finish();
}

}  // namespace imgprep

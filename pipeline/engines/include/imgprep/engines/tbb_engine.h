// The CPU engine: I/O threads feed a TBB flow graph that decodes and transforms on `threads`
// cores; a sequencer restores input order for the sink stage, so outputs never depend on
// scheduling.
#pragma once

#include "imgprep/engines/sink_stage.h"

namespace imgprep {

// Rethrows the first OutputError raised by the sink, after the graph has drained.
void run_tbb_engine(EngineRun& run);

}  // namespace imgprep

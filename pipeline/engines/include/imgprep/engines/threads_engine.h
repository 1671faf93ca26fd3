// A CPU engine without TBB, as a careful hand-written program would do it: the I/O threads feed
// a queue (mutex and condition variable) that --threads std::threads drain, decoding and
// transforming; an order buffer hands results to the sink stage in input order.
#pragma once

#include "imgprep/core/engine_run.h"

namespace imgprep {

// Throws what the sink throws (OutputError), after the run has drained.
void run_threads_engine(EngineRun& run);

}  // namespace imgprep

// The baseline engine: one thread reads, decodes, transforms and writes each input in turn, in
// input order. What `imgprep bench` measures every other tier against.
#pragma once

#include "imgprep/core/engine_run.h"

namespace imgprep {

// Throws what the sink throws (OutputError).
void run_serial_engine(EngineRun& run);

}  // namespace imgprep

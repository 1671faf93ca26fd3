// The engines, declared once: their names (for --cpu-engine, bench's --tiers, meta.json and
// the messages), how each is run, and how each is described to a person. `imgprep run` and
// `imgprep bench` both dispatch through run_engine.
#pragma once

#include <string>

#include "imgprep/core/engine_kind.h"

namespace imgprep {

struct EngineRun;
class GpuEngine;
struct Options;

// One run of `kind`. The GPU engine runs on `gpu` when given (made once, reused across runs),
// else on one of its own.
void run_engine(EngineKind kind, EngineRun& run, GpuEngine* gpu = nullptr);

// How an engine is described to a person.
struct EngineDescription {
  std::string workers;      // "tbb: 8 threads" (the engine line of `imgprep run`)
  std::string parallelism;  // the threads of every stage in words (`imgprep bench`)
};
EngineDescription describe(EngineKind kind, const Options& options);

}  // namespace imgprep

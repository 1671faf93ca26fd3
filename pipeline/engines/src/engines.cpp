#include "imgprep/engines/engines.h"

#include "imgprep/core/engine_run.h"
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/core/options.h"
#include "imgprep/engines/procs_engine.h"
#include "imgprep/engines/serial_engine.h"
#include "imgprep/engines/tbb_engine.h"
#include "imgprep/engines/threads_engine.h"

namespace imgprep {

void run_engine(EngineKind kind, EngineRun& run, GpuEngine* gpu) {
  switch (kind) {
    case EngineKind::serial: run_serial_engine(run); return;
    case EngineKind::threads: run_threads_engine(run); return;
    case EngineKind::procs: run_procs_engine(run); return;
    case EngineKind::tbb: run_tbb_engine(run); return;
    case EngineKind::gpu:
      if (gpu)
        gpu->run(run);
      else
        run_gpu_engine(run);
      return;
  }
}

EngineDescription describe(EngineKind kind, const Options& o) {
  const int io = o.io_threads, cpu = o.resolved_threads(), workers = o.resolved_workers();
  const auto n = [](int count, const char* what) { return std::to_string(count) + " " + what; };
  const auto count = [](int c, const char* one, const char* many) {
    return std::to_string(c) + " " + (c == 1 ? one : many);
  };
  const std::string name = to_string(kind);
  switch (kind) {
    case EngineKind::serial: return {name + ": 1 thread", "1 thread"};
    case EngineKind::threads:
      return {name + ": " + count(cpu, "thread", "threads"),
              n(io, "I/O threads, ") + n(cpu, "worker threads (std::thread), 1 writer thread")};
    case EngineKind::procs:
      return {name + ": " + count(workers, "worker process", "worker processes"),
              n(io, "I/O threads, ") + n(workers, "worker processes, 1 writer thread")};
    case EngineKind::tbb:
      return {name + ": " + count(cpu, "thread", "threads"),
              n(io, "I/O threads, ") + n(cpu, "TBB threads, 1 writer thread")};
    case EngineKind::gpu:
      return {name + ": device " + std::to_string(o.device) + ", batch " + std::to_string(o.batch),
              n(io, "I/O threads, ") +
                  n(cpu, "TBB decoding threads, 1 GPU stage thread, 1 writer thread")};
  }
  return {};
}

}  // namespace imgprep

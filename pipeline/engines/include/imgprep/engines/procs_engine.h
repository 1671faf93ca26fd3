// The process-pool CPU engine (--cpu-engine procs): I/O threads read files, a dispatcher hands
// them to --workers worker processes through shared-memory slots, and results reach the sink
// stage in input order. A worker that crashes, is killed or exceeds --timeout-per-image on an
// image is replaced; that image becomes a failed row and the run goes on.
#pragma once

#include <filesystem>
#include <stdexcept>

#include "imgprep/engines/sink_stage.h"

namespace imgprep {

// Worker processes could not be started (or died before they were ready): the run cannot
// continue.
struct WorkerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The hidden first argument that makes the imgprep executable a worker process.
inline constexpr const char* kWorkerArgument = "__worker";

// The executable that worker processes run: by default this process's own (imgprep's main()
// hands kWorkerArgument to run_procs_worker). A library inside another program (the Python
// module) points it at an imgprep executable. Set it before a run starts.
void set_worker_executable(const std::filesystem::path& executable);

// Throws WorkerError, or OutputError (the sink), after the run has drained. Call it from a
// thread that outlives the run: the workers' parent-death signal follows the thread that
// started them.
void run_procs_engine(EngineRun& run);

// The worker process's main(): `imgprep __worker PARENT_PID`, its control socket on fd 3.
// Returns the exit status (0 once the engine closes the socket).
int run_procs_worker(int argc, char** argv);

}  // namespace imgprep

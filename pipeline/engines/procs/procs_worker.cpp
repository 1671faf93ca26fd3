// The worker process of the procs engine: receives the options and its slots, then decodes and
// transforms one image per Request (ImageProcessor::process, as the tbb engine does) until the
// engine closes the socket. Whatever an image does to this process, only this process dies.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "imgprep/core/image_processor.h"
#include "imgprep/engines/procs_engine.h"
#include "shared_slot.h"
#include "worker_protocol.h"

#ifdef IMGPREP_FAULT_INJECTION
#include <sys/resource.h>

#include <cstdlib>
#include <sstream>
#endif

namespace imgprep {
namespace {

#ifdef IMGPREP_FAULT_INJECTION
// Test builds only (imgprep-faults): IMGPREP_FAULT="crash:SUBSTR,hang:SUBSTR,abort:SUBSTR"
// makes the worker raise SIGSEGV, sleep forever or abort() on inputs whose path contains SUBSTR.
void inject_faults(const char* path) {
  const char* spec = std::getenv("IMGPREP_FAULT");
  std::stringstream faults(spec ? spec : "");
  std::string fault;
  while (std::getline(faults, fault, ',')) {
    const size_t colon = fault.find(':');
    if (colon == std::string::npos || !std::strstr(path, fault.c_str() + colon + 1)) continue;
    const rlimit no_core{0, 0};  // the tests' crashes leave no core files
    ::setrlimit(RLIMIT_CORE, &no_core);
    const std::string kind = fault.substr(0, colon);
    if (kind == "crash") ::raise(SIGSEGV);
    if (kind == "abort") std::abort();
    if (kind == "hang")
      for (;;) ::pause();
  }
}
#endif

// The parent's pid from argv; -1 when missing or malformed.
pid_t parent_pid(int argc, char** argv) {
  if (argc != 3) return -1;
  pid_t pid = -1;
  const char* end = argv[2] + std::strlen(argv[2]);
  if (std::from_chars(argv[2], end, pid).ptr != end) return -1;
  return pid;
}

// After the options, the engine sends Requests until it closes the socket; returns the exit status.
int serve(const ImageProcessor& processor, std::vector<SharedSlot>& slots) {
  Scratch scratch;
  RunStats stats;
  Job job;
  InputItem item;  // what the worker knows of the input: its key
  for (;;) {
    Request request;
    const ssize_t got = receive_message(kControlFd, &request, sizeof request);
    if (got == 0) return 0;  // the engine is done with this worker
    if (got != sizeof request || request.slot >= slots.size()) return 1;
    SharedSlot& slot = slots[request.slot];
    slot.remap(request.slot_size);
    item.key = request.key;
    job.reset(request.seq, &item);
    job.encoded.resize(request.input_size);
    std::memcpy(job.encoded.data(), slot.data(), request.input_size);
#ifdef IMGPREP_FAULT_INJECTION
    inject_faults(request.path);
#endif
    processor.process(job, scratch, stats);

    Reply reply;
    reply.kind = Reply::done;
    reply.slot = request.slot;
    reply.seq = request.seq;
    reply.width = job.width;
    reply.height = job.height;
    reply.out_w = job.out_w;
    reply.out_h = job.out_h;
    reply.box = job.box;
    reply.flipped = job.flipped;
    copy_text(reply.error, job.error);
    copy_text(reply.warning, job.warning);
    if (job.ok()) {
      slot.grow(job.output.size());
      std::memcpy(slot.data(), job.output.data(), job.output.size());
      reply.output_size = job.output.size();
    }
    reply.slot_size = slot.size();
    reply.decode_ns = stats.busy_ns[static_cast<int>(Stage::decode)].exchange(0);
    reply.transform_ns = stats.busy_ns[static_cast<int>(Stage::transform)].exchange(0);
    reply.decoded_bytes = stats.decoded_bytes.exchange(0);
    if (!send_message(kControlFd, &reply, sizeof reply)) return 1;
  }
}

}  // namespace

int run_procs_worker(int argc, char** argv) {
  // Die with the engine, however it ends; if it ended before this line, leave now.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent_pid(argc, argv)) return 1;
  try {
    std::string config(kMaxConfigBytes, '\0');
    std::vector<int> fds;
    const ssize_t got = receive_message(kControlFd, config.data(), config.size(), &fds);
    if (got <= 0) return 1;
    config.resize(static_cast<size_t>(got));
    std::vector<SharedSlot> slots;
    for (int fd : fds) slots.emplace_back(fd);
    const ProcessingOptions options = processing_from_json(nlohmann::json::parse(config));
    configure_codecs(options.max_pixels);
    const ImageProcessor processor(options);

    const Reply ready;
    if (!send_message(kControlFd, &ready, sizeof ready)) return 1;
    return serve(processor, slots);
  } catch (const std::exception& e) {
    std::cerr << "imgprep: worker " << ::getpid() << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace imgprep

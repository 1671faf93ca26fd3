// The engine side of the procs engine: one dispatcher thread (the caller's) polls the workers'
// sockets, an eventfd the I/O threads ring when they have read a file, and the deadline of the
// image each worker is on. Each worker has kSlotsPerWorker slots, so it can start its next image
// without waiting for the engine; it answers in the order it was asked.
#include "imgprep/engines/procs_engine.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>

#include <tbb/concurrent_queue.h>

#include "imgprep/core/json_text.h"
#include "imgprep/engines/read_pool.h"
#include "../src/order_buffer.h"
#include "shared_slot.h"
#include "worker_process.h"
#include "worker_protocol.h"

namespace imgprep {
namespace {

using Clock = std::chrono::steady_clock;

// Wakes the dispatcher's poll() from the I/O threads.
class Wakeup {
 public:
  Wakeup() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw WorkerError(std::string("eventfd: ") + std::strerror(errno));
  }
  ~Wakeup() { ::close(fd_); }
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  int fd() const { return fd_; }
  void ring() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);  // full: already rung
  }
  void clear() {
    uint64_t count;
    [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof count);
  }

 private:
  int fd_;
};

// A worker process, its slots (kept for the process that replaces it) and the jobs it holds.
struct Worker {
  std::unique_ptr<WorkerProcess> process;  // null once the run has failed
  std::vector<SharedSlot> slots;
  std::array<Job*, kSlotsPerWorker> held{};  // the job in each slot
  std::deque<int> queue;       // slots whose Requests are unanswered, oldest first
  bool ready = false;          // its Reply{ready} came: it may be given images
  Clock::time_point started;   // when it began the image in queue.front()
};

class Dispatcher {
 public:
  // Starts the workers; throws WorkerError.
  Dispatcher(EngineRun& run, SinkStage& sink, size_t job_count);

  // From the I/O threads.
  void arrive(Job* job) {
    arrived_.push(job);
    wakeup_.ring();
  }
  void arrivals_done() {
    arrivals_done_ = true;
    wakeup_.ring();
  }

  // Returns once every job has gone to the sink and the workers have exited. After a
  // WorkerError every job still goes to the sink, cancelled, before it is rethrown.
  void run();

 private:
  void start(Worker& worker);
  void step();
  void dispatch();
  Worker* least_busy();
  bool send(Worker& worker, Job* job);
  void receive(Worker& worker);
  void on_reply(Worker& worker, const Reply& reply);
  void check_deadlines();
  int poll_timeout_ms() const;
  // Kills and restarts the worker; its current image fails with why (default: how it died).
  void replace(Worker& worker, const std::string& why = {});
  void fail();

  EngineRun& run_;
  OrderBuffer order_;
  const std::string config_;  // the options, as the workers receive them
  const Clock::duration timeout_;
  const std::string timeout_reason_;
  std::vector<Worker> workers_;
  Wakeup wakeup_;
  tbb::concurrent_queue<Job*> arrived_;
  std::atomic<bool> arrivals_done_{false};
  std::deque<Job*> waiting_;  // read, not yet given to a worker
  std::vector<pollfd> fds_;    // step()'s poll set, kept for its capacity
  std::vector<Worker*> polled_;  // the worker of each fds_ entry after the first
  size_t busy_ = 0;           // jobs held by workers
  std::exception_ptr error_;
};

std::string describe_timeout(double seconds) {
  char text[64];
  std::snprintf(text, sizeof text, "timed out after %g s", seconds);
  return text;
}

Dispatcher::Dispatcher(EngineRun& run, SinkStage& sink, size_t job_count)
    : run_(run),
      order_(job_count, sink),
      config_(json_text(to_json(run.processor.options()))),
      timeout_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(run.options.timeout_per_image))),
      timeout_reason_(describe_timeout(run.options.timeout_per_image)),
      workers_(static_cast<size_t>(run.options.resolved_workers())) {
  for (Worker& worker : workers_) {
    for (int i = 0; i < kSlotsPerWorker; ++i) worker.slots.emplace_back();
    start(worker);
  }
}

void Dispatcher::start(Worker& worker) {
  worker.process = std::make_unique<WorkerProcess>();
  worker.ready = false;
  std::array<int, kSlotsPerWorker> fds;
  for (int i = 0; i < kSlotsPerWorker; ++i) fds[i] = worker.slots[i].fd();
  // If this fails the worker has died already; poll() sees it, before it was ready.
  send_message(worker.process->fd(), config_.data(), config_.size(), fds);
}

void Dispatcher::run() {
  for (;;) {
    const bool last_arrived = arrivals_done_;
    Job* job = nullptr;
    while (arrived_.try_pop(job)) waiting_.push_back(job);
    try {
      dispatch();
      if (last_arrived && waiting_.empty() && busy_ == 0) break;
      step();
    } catch (...) {
      if (!error_) error_ = std::current_exception();
      fail();
    }
  }
  for (Worker& worker : workers_)
    if (worker.process) worker.process->close_and_reap();
  if (error_) std::rethrow_exception(error_);
}

// Waits for a reply, an arrival or a deadline, and handles it.
void Dispatcher::step() {
  fds_.assign(1, {wakeup_.fd(), POLLIN, 0});
  polled_.clear();
  for (Worker& worker : workers_)
    if (worker.process) {
      fds_.push_back({worker.process->fd(), POLLIN, 0});
      polled_.push_back(&worker);
    }
  const int n = ::poll(fds_.data(), fds_.size(), poll_timeout_ms());
  if (n < 0 && errno != EINTR) throw WorkerError(std::string("poll: ") + std::strerror(errno));
  if (fds_[0].revents) wakeup_.clear();
  for (size_t i = 1; n > 0 && i < fds_.size(); ++i)
    if (fds_[i].revents) receive(*polled_[i - 1]);
  check_deadlines();
}

void Dispatcher::dispatch() {
  while (!waiting_.empty()) {
    Job* job = waiting_.front();
    if (error_) job->cancelled = true;
    if (job->ok() && !job->cancelled) {
      Worker* worker = least_busy();
      if (!worker) return;
      if (!send(*worker, job)) {
        replace(*worker);  // it died before it was given the job, which stays first in line
        continue;
      }
    } else {
      order_.put(job);  // a read error, or the run is stopping
    }
    run_.stats.dequeue(Stage::decode);
    waiting_.pop_front();
  }
}

Worker* Dispatcher::least_busy() {
  Worker* best = nullptr;
  for (Worker& worker : workers_)
    if (worker.process && worker.ready && worker.queue.size() < size_t{kSlotsPerWorker} &&
        (!best || worker.queue.size() < best->queue.size()))
      best = &worker;
  return best;
}

// Puts the file in a free slot and asks the worker; false if the worker is gone.
bool Dispatcher::send(Worker& worker, Job* job) {
  int s = 0;
  while (worker.held[s]) ++s;
  SharedSlot& slot = worker.slots[s];
  slot.grow(job->encoded.size());
  std::memcpy(slot.data(), job->encoded.data(), job->encoded.size());
  Request request;
  request.slot = static_cast<uint32_t>(s);
  request.seq = job->seq;
  request.key = job->item->key;
  request.input_size = job->encoded.size();
  request.slot_size = slot.size();
#ifdef IMGPREP_FAULT_INJECTION
  copy_text(request.path, job->item->path.string());
#endif
  if (!send_message(worker.process->fd(), &request, sizeof request)) return false;
  if (worker.queue.empty()) worker.started = Clock::now();
  worker.held[s] = job;
  worker.queue.push_back(s);
  ++busy_;
  return true;
}

// Reads every reply waiting; end-of-file (or anything unreadable) means the worker is gone.
void Dispatcher::receive(Worker& worker) {
  for (;;) {
    Reply reply;
    const ssize_t got =
        receive_message(worker.process->fd(), &reply, sizeof reply, nullptr, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (got != sizeof reply) return replace(worker);
    on_reply(worker, reply);
  }
}

void Dispatcher::on_reply(Worker& worker, const Reply& reply) {
  if (reply.kind == Reply::ready) {
    worker.ready = true;
    return;
  }
  const int s = worker.queue.empty() ? -1 : worker.queue.front();
  if (s < 0 || reply.slot != static_cast<uint32_t>(s) || reply.seq != worker.held[s]->seq ||
      reply.output_size > reply.slot_size)
    return replace(worker, "worker sent a malformed reply");  // as a crash: its image fails
  worker.queue.pop_front();
  worker.started = Clock::now();  // it goes on to its next image now
  Job* job = std::exchange(worker.held[s], nullptr);
  --busy_;

  SharedSlot& slot = worker.slots[s];
  slot.remap(reply.slot_size);
  job->width = reply.width;
  job->height = reply.height;
  job->out_w = reply.out_w;
  job->out_h = reply.out_h;
  job->box = reply.box;
  job->flipped = reply.flipped;
  job->error.assign(reply.error, strnlen(reply.error, sizeof reply.error));
  job->warning.assign(reply.warning, strnlen(reply.warning, sizeof reply.warning));
  if (job->ok()) {
    job->output.resize(reply.output_size);
    std::memcpy(job->output.data(), slot.data(), reply.output_size);
  }
  run_.stats.add(Stage::decode, std::chrono::nanoseconds(reply.decode_ns));
  run_.stats.add(Stage::transform, std::chrono::nanoseconds(reply.transform_ns));
  run_.stats.decoded_bytes.fetch_add(reply.decoded_bytes, std::memory_order_relaxed);
  order_.put(job);
}

void Dispatcher::check_deadlines() {
  const Clock::time_point now = Clock::now();
  for (Worker& worker : workers_)
    if (worker.process && !worker.queue.empty() && now - worker.started >= timeout_)
      replace(worker, timeout_reason_);
}

int Dispatcher::poll_timeout_ms() const {
  Clock::time_point next = Clock::time_point::max();
  for (const Worker& worker : workers_)
    if (worker.process && !worker.queue.empty()) next = std::min(next, worker.started + timeout_);
  if (next == Clock::time_point::max()) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, INT_MAX));
}

// Kills the worker (it may be dead already): the image it was on fails with how it ended (or
// timeout_reason), images waiting in its other slot go back to the front of the line, and a
// new process takes its place. A worker that dies before it is ready fails the run: the next
// would most likely do the same.
void Dispatcher::replace(Worker& worker, const std::string& why) {
  std::string reason = worker.process->kill_and_reap();
  if (!why.empty()) reason = why;
  if (!worker.ready) throw WorkerError("a worker process failed to start: " + reason);
  for (size_t i = worker.queue.size(); i-- > 0;) {
    Job* job = std::exchange(worker.held[worker.queue[i]], nullptr);
    --busy_;
    if (i > 0) {
      waiting_.push_front(job);  // dispatch() takes it off the decode queue again
      run_.stats.enqueue(Stage::decode);
    } else {
      job->error = reason;
      order_.put(job);
    }
  }
  worker.queue.clear();
  start(worker);
}

// After a WorkerError: the workers are killed and every job they held goes to the sink,
// cancelled; dispatch() cancels the rest as they come.
void Dispatcher::fail() {
  run_.stop = true;
  for (Worker& worker : workers_) {
    for (int s : worker.queue) {
      Job* job = std::exchange(worker.held[s], nullptr);
      job->cancelled = true;
      order_.put(job);
      --busy_;
    }
    worker.queue.clear();
    worker.process.reset();
  }
}

}  // namespace

void run_procs_engine(EngineRun& run) {
  JobSlots slots(run.options.in_flight_for(run.options.resolved_workers()));
  SinkStage sink(run, slots);
  Dispatcher dispatcher(run, sink, slots.count());
  ReadPool readers(run, slots);
  readers.start([&](Job* job) { dispatcher.arrive(job); }, [&] { dispatcher.arrivals_done(); });
  dispatcher.run();
  readers.join();
  sink.finish();
}

}  // namespace imgprep

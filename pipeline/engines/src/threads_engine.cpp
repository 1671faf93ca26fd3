#include "imgprep/engines/threads_engine.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "imgprep/engines/read_pool.h"
#include "imgprep/engines/sink_stage.h"
#include "order_buffer.h"

namespace imgprep {
namespace {

// The jobs read and not yet taken by a worker; pop() returns null once the readers are done
// and the queue is empty.
class JobQueue {
 public:
  void push(Job* job) {
    {
      std::lock_guard lock(mutex_);
      jobs_.push_back(job);
    }
    ready_.notify_one();
  }
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  Job* pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return !jobs_.empty() || closed_; });
    if (jobs_.empty()) return nullptr;
    Job* job = jobs_.front();
    jobs_.pop_front();
    return job;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job*> jobs_;
  bool closed_ = false;
};

}  // namespace

void run_threads_engine(EngineRun& run) {
  JobSlots slots(run.options.in_flight_for(run.options.resolved_threads()));
  SinkStage sink(run, slots);
  OrderBuffer order(slots.count(), sink);
  std::mutex order_mutex;
  JobQueue queue;
  ReadPool readers(run, slots);
  readers.start([&](Job* job) { queue.push(job); }, [&] { queue.close(); });
  {
    std::vector<std::jthread> workers;
    for (int i = 0; i < run.options.resolved_threads(); ++i) {
      try {
        workers.emplace_back([&] {
          Scratch scratch;
          while (Job* job = queue.pop()) {
            run.stats.dequeue(Stage::decode);
            run.processor.process(*job, scratch, run.stats);
            std::lock_guard lock(order_mutex);
            order.put(job);
          }
        });
      } catch (const std::system_error& e) {
        // The readers stop, the workers that started finish what was read, then the run fails.
        run.stop = true;
        throw std::runtime_error("cannot start worker thread " + std::to_string(i + 1) + ": " +
                                 e.what());
      }
    }
  }  // joins the workers
  readers.join();
  sink.finish();
}

}  // namespace imgprep

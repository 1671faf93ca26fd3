#include "imgprep/pipeline/tbb_engine.h"

#include <exception>
#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include "imgprep/pipeline/read_pool.h"

namespace imgprep {

void sink_job(EngineRun& run, const Job& job) {
  if (job.cancelled) return;
  {
    StageTimer timer(run.stats, Stage::write);
    run.sink.consume(job);
  }
  if (!job.ok()) {
    const int64_t failed = run.stats.failed.fetch_add(1) + 1;
    if (run.options.max_errors >= 0 && failed > run.options.max_errors) run.stop = true;
  }
  run.stats.done.fetch_add(1);
}

void run_tbb_engine(EngineRun& run) {
  namespace flow = oneapi::tbb::flow;
  const int threads = run.options.resolved_threads();
  oneapi::tbb::global_control parallelism(oneapi::tbb::global_control::max_allowed_parallelism,
                                          threads);
  oneapi::tbb::task_arena arena(threads);
  JobSlots slots(run.options.resolved_in_flight());
  ReadPool readers(run.items, run.options.io_threads, slots, run.stats, run.stop);
  oneapi::tbb::enumerable_thread_specific<Scratch> scratch;
  std::exception_ptr sink_error;

  arena.execute([&] {
    flow::graph graph;
    using ReadNode = flow::async_node<flow::continue_msg, Job*>;
    ReadNode read(graph, flow::serial, [&](const flow::continue_msg&, ReadNode::gateway_type& gw) {
      gw.reserve_wait();
      readers.start([&gw](Job* job) { gw.try_put(job); }, [&gw] { gw.release_wait(); });
    });
    flow::function_node<Job*, Job*> process(graph, flow::unlimited, [&](Job* job) {
      run.processor.process(*job, scratch.local(), run.stats);
      return job;
    });
    flow::sequencer_node<Job*> order(graph, [](Job* job) { return job->seq; });
    flow::function_node<Job*> write(graph, flow::serial, [&](Job* job) {
      if (!sink_error) {
        try {
          sink_job(run, *job);
        } catch (...) {
          sink_error = std::current_exception();
          run.stop = true;
        }
      }
      slots.release(job);
    });
    flow::make_edge(read, process);
    flow::make_edge(process, order);
    flow::make_edge(order, write);
    read.try_put(flow::continue_msg());
    graph.wait_for_all();
  });
  readers.join();
  if (sink_error) std::rethrow_exception(sink_error);
}

}  // namespace imgprep

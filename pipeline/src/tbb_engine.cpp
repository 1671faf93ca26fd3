#include "imgprep/pipeline/tbb_engine.h"

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include "imgprep/pipeline/read_pool.h"

namespace imgprep {

void run_tbb_engine(EngineRun& run) {
  namespace flow = oneapi::tbb::flow;
  const int threads = run.options.resolved_threads();
  oneapi::tbb::global_control parallelism(oneapi::tbb::global_control::max_allowed_parallelism,
                                          threads);
  oneapi::tbb::task_arena arena(threads);
  JobSlots slots(run.options.resolved_in_flight());
  ReadPool readers(run.items, run.options.io_threads, slots, run.stats, run.stop);
  SinkStage sink(run, slots);
  oneapi::tbb::enumerable_thread_specific<Scratch> scratch;

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
    flow::function_node<Job*> hand_off(graph, flow::serial, [&](Job* job) { sink.push(job); });
    flow::make_edge(read, process);
    flow::make_edge(process, order);
    flow::make_edge(order, hand_off);
    read.try_put(flow::continue_msg());
    graph.wait_for_all();
  });
  readers.join();
  sink.finish();
}

}  // namespace imgprep

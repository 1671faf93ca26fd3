// The CPU tier shared by the engines: I/O threads feed a TBB flow graph that runs work(job,
// scratch) on `threads` cores, and a sequencer hands each job on, in input order, to hand_off.
// Returns once every input has been handed off and the I/O threads have ended.
#pragma once

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include "imgprep/engines/read_pool.h"
#include "imgprep/engines/sink_stage.h"

namespace imgprep {

template <class Work, class HandOff>
void run_cpu_graph(EngineRun& run, JobSlots& slots, Work work, HandOff hand_off) {
  namespace flow = oneapi::tbb::flow;
  const int threads = run.options.resolved_threads();
  oneapi::tbb::global_control parallelism(oneapi::tbb::global_control::max_allowed_parallelism,
                                          threads);
  oneapi::tbb::task_arena arena(threads);
  ReadPool readers(run, slots);
  oneapi::tbb::enumerable_thread_specific<Scratch> scratch;

  arena.execute([&] {
    flow::graph graph;
    using ReadNode = flow::async_node<flow::continue_msg, Job*>;
    ReadNode read(graph, flow::serial, [&](const flow::continue_msg&, ReadNode::gateway_type& gw) {
      gw.reserve_wait();
      readers.start([&gw](Job* job) { gw.try_put(job); }, [&gw] { gw.release_wait(); });
    });
    flow::function_node<Job*, Job*> process(graph, flow::unlimited, [&](Job* job) {
      run.stats.dequeue(Stage::decode);
      work(*job, scratch.local());
      // Before the sequencer: a job held up there behind an earlier one must not keep readers
      // waiting for the budget its file bytes took.
      job->drop_encoded();
      return job;
    });
    flow::sequencer_node<Job*> order(graph, [](Job* job) { return job->seq; });
    flow::function_node<Job*> forward(graph, flow::serial, [&](Job* job) { hand_off(job); });
    flow::make_edge(read, process);
    flow::make_edge(process, order);
    flow::make_edge(order, forward);
    read.try_put(flow::continue_msg());
    graph.wait_for_all();
  });
  readers.join();
}

}  // namespace imgprep

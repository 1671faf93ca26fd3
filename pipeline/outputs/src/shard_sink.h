// What the sinks that write numbered shards (npy, wds) share: each input's manifest row, held back
// until its shard is complete, then journalled with the shard so that --resume continues after
// it. Private to outputs/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "imgprep/core/options.h"
#include "imgprep/core/output_sink.h"
#include "imgprep/outputs/manifest.h"
#include "imgprep/outputs/out_dir.h"
#include "imgprep/outputs/run_journal.h"

namespace imgprep {

// The job's manifest row, without its output's place. gpu_decoding: a --decode gpu run, whose
// rows say which decoder made each image.
ManifestRow row_for(const Job& job, bool gpu_decoding);

// An input in OUT fails: imgprep never reads its own outputs (a list file may name them).
void refuse_inside_out(InsideOut& inside_out, Job& job);

// Removes the shards (and label shards) named "*-NNNNN.extension" from index `kept` on that a
// previous, larger run left behind, so OUT describes this run only.
void remove_stale_shards(const std::filesystem::path& dir, int kept, const char* extension);

// A tensor's item_shape, dtype and layout, as meta.json's "output" describes them.
nlohmann::json tensor_description(const OutputSpec& spec);

class ShardSink : public OutputSink {
 public:
  void consume(Job& job) final;
  // The last shard completed, every row committed, shards a larger earlier run left past this
  // run's removed; returns meta.json's "output".
  nlohmann::json finish() final;
  // Stops with the complete shards only: the one in progress is dropped.
  void interrupt() final;

 protected:
  // extension: the shards' file extension ("npy", "tar").
  ShardSink(const Options& o, RunJournal& journal, const char* extension);

  struct Placed {
    bool completed_shard = false;  // the job's output completed a shard, now durable
    uint64_t shard_bytes = 0;      // its size, when the journal records it (tar shards)
  };
  // Writes a successful job's output into the shard in progress and sets row's place in it.
  virtual Placed place(const Job& job, ManifestRow& row) = 0;
  virtual int shards_written() const = 0;
  // Completes the shard in progress (a partial last shard included).
  virtual void finish_shards() = 0;
  // Drops the shard in progress.
  virtual void abandon_shards() = 0;
  // meta.json's "output" for these shards.
  virtual nlohmann::json output_description() const = 0;

 private:
  std::filesystem::path dir_;
  const char* extension_;
  ManifestWriter manifest_;
  bool gpu_decoding_;
  RunJournal& journal_;
  InsideOut inside_out_;
  uint64_t first_input_;
  int64_t failed_;
};

// --format wds and wds-images.
std::unique_ptr<OutputSink> make_wds_sink(const Options& o, const OutputSpec& spec,
                                          RunJournal& journal);

}  // namespace imgprep

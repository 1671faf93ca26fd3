// --format wds and wds-images: WebDataset tar shards. Each successful input is one sample, its
// members named KEY.EXT, KEY being the input's position in the whole ordered input list (before
// any --shard K/N slice): the tensor as a .npy file (wds) or the image file (wds-images), then the
// label (.cls, decimal text, when the input has one), then the manifest row (.json) without the
// shard number. A sample's bytes thus depend only on the input and the settings, never on the
// tar it lands in, so tars of --shard K/N parts can be joined unchanged.
#include <cstdio>
#include <string>
#include <vector>

#include "npy_header.h"
#include "shard_sink.h"
#include "tar_writer.h"

namespace imgprep {
namespace {

// Nine digits, more only when needed; no dot, since WebDataset splits a member's name at the
// first dot.
std::string sample_key(uint64_t key) {
  char text[32];
  std::snprintf(text, sizeof text, "%09llu", static_cast<unsigned long long>(key));
  return text;
}

class WdsSink : public ShardSink {
 public:
  WdsSink(const Options& o, const OutputSpec& spec, RunJournal& journal)
      : ShardSink(o, journal, "tar"),
        format_(o.format),
        spec_(spec),
        image_extension_(o.image_format),
        npy_header_(npy_header(npy_descr(spec.dtype), npy_item_shape(spec))),
        tars_(o.output, o.shard_size, journal.state().shards, journal.state().shard_bytes) {}


 private:
  Placed place(const Job& job, ManifestRow& row) override {
    const std::string key = sample_key(job.item->key);
    row.key = key;
    const std::string json = manifest_line(row);
    const std::string_view output(reinterpret_cast<const char*>(job.output.data()),
                                  job.output.size());
    std::vector<TarShardWriter::Member> members;
    if (writes_tensors(format_))
      members.push_back({key + ".npy", npy_header_, output});
    else
      members.push_back({key + "." + image_extension_, {}, output});
    const std::string label = std::to_string(job.item->label);
    if (job.item->label >= 0) members.push_back({key + ".cls", {}, label});
    members.push_back({key + ".json", {}, json});
    const TarShardWriter::Location at = tars_.append(members);
    row.shard = at.shard;
    return {at.completed_shard, at.shard_bytes};
  }
  int shards_written() const override { return tars_.shards_written(); }
  void finish_shards() override { tars_.finish(); }
  void abandon_shards() override { tars_.abandon(); }
  nlohmann::json output_description() const override {
    nlohmann::json output = {{"format", to_string(format_)}, {"shards", tars_.shards_written()}};
    if (writes_tensors(format_))
      output.update(tensor_description(spec_));
    else
      output["image_format"] = image_extension_;
    return output;
  }

  OutputFormat format_;
  OutputSpec spec_;
  std::string image_extension_;
  std::string npy_header_;  // one tensor's, the same for every sample
  TarShardWriter tars_;
};

}  // namespace

std::unique_ptr<OutputSink> make_wds_sink(const Options& o, const OutputSpec& spec,
                                          RunJournal& journal) {
  return std::make_unique<WdsSink>(o, spec, journal);
}

}  // namespace imgprep

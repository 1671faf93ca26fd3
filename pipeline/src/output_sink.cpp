#include "imgprep/pipeline/output_sink.h"

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

namespace imgprep {
namespace fs = std::filesystem;
namespace {

ManifestRow row_for(const Job& job) {
  ManifestRow row;
  row.path = job.item->rel;
  row.ok = job.ok();
  row.error = job.error;
  row.warning = job.warning;
  row.label = job.item->label;
  row.width = job.width;
  row.height = job.height;
  return row;
}

const char* npy_descr(DType dtype) {
  switch (dtype) {
    case DType::float32: return "<f4";
    case DType::float16: return "<f2";
    case DType::uint8: return "|u1";
  }
  return "<f4";
}

// Removes shards a previous, larger run left behind, so OUT describes this run only.
void remove_stale_shards(const fs::path& dir, int kept) {
  static const std::regex pattern(R"((shard|labels)-(\d{5,})\.npy)");
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, pattern) && std::stoi(m[2]) >= kept) fs::remove(e.path(), ec);
  }
}

class NpySink : public OutputSink {
 public:
  NpySink(const Options& o, const OutputSpec& spec, const InputList& inputs, RunJournal& journal)
      : dir_(o.output),
        spec_(spec),
        journal_(journal),
        manifest_(o.output),
        shards_(o.output, o.shard_size, npy_descr(spec.dtype), item_shape(spec),
                inputs.has_labels, static_cast<int64_t>(inputs.items.size()),
                journal.state().shards),
        first_input_(journal.state().next_input),
        failed_(journal.state().failed) {
    manifest_.write_committed(journal.state().manifest_rows);
  }

  void consume(const Job& job) override {
    ManifestRow row = row_for(job);
    ShardWriter::Location at;
    if (job.ok()) {
      at = shards_.append(job.output.data(), job.item->label);
      row.shard = at.shard;
      row.row = at.row;
    } else {
      ++failed_;
    }
    manifest_.add(row);
    if (at.completed_shard) {
      journal_.record(shards_.shards_written(), first_input_ + job.seq + 1, failed_,
                      manifest_.pending());
      manifest_.commit_pending();
    }
  }

  nlohmann::json finish() override {
    shards_.finish();
    manifest_.commit_pending();
    manifest_.finish();
    remove_stale_shards(dir_, shards_.shards_written());
    return {{"format", "npy"},
            {"shards", shards_.shards_written()},
            {"item_shape", item_shape(spec_)},
            {"dtype", to_string(spec_.dtype)},
            {"layout", to_string(spec_.layout)}};
  }

  void interrupt() override {
    shards_.abandon();
    manifest_.finish();
  }

 private:
  static std::vector<int64_t> item_shape(const OutputSpec& s) {
    if (s.layout == Layout::nchw) return {OutputSpec::kChannels, s.height, s.width};
    return {s.height, s.width, OutputSpec::kChannels};
  }

  fs::path dir_;
  OutputSpec spec_;
  RunJournal& journal_;
  ManifestWriter manifest_;
  ShardWriter shards_;
  uint64_t first_input_;
  int64_t failed_;
};

class ImagesSink : public OutputSink {
 public:
  ImagesSink(const Options& o, const InputList& inputs) : dir_(o.output), manifest_(o.output) {
    // Two inputs that differ only by extension would map to one file: the later ones keep
    // their original extension in the name so no output overwrites another.
    std::set<fs::path> taken;
    for (const InputItem& item : inputs.items) {
      fs::path out = image_output_path(item.rel, o.image_format);
      if (!taken.insert(out).second) {
        out = image_output_path(item.rel + "." + o.image_format, o.image_format);
        taken.insert(out);
      }
      paths_[&item] = out;
    }
  }

  // Each image file is complete on its own, so its row is committed at once.
  void consume(const Job& job) override {
    ManifestRow row = row_for(job);
    if (job.ok()) {
      const fs::path& rel = paths_.at(job.item);
      make_folder((dir_ / rel).parent_path());
      AtomicFile::write_file(
          dir_ / rel, {reinterpret_cast<const char*>(job.output.data()), job.output.size()}, false);
      row.output = rel.generic_string();
    }
    manifest_.add(row);
    manifest_.commit_pending();
  }

  // The image files were committed without an fsync each; one syncfs makes them durable
  // before the manifest (and meta.json) says they are complete.
  nlohmann::json finish() override {
    AtomicFile::sync_filesystem(dir_);
    manifest_.finish();
    return {{"format", "images"}};
  }

  void interrupt() override {
    AtomicFile::sync_filesystem(dir_);
    manifest_.finish();
  }

 private:
  // Once per folder, not per image.
  void make_folder(const fs::path& folder) {
    if (made_.count(folder)) return;
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) throw OutputError("cannot create " + folder.string() + ": " + ec.message());
    made_.insert(folder);
  }

  fs::path dir_;
  ManifestWriter manifest_;
  std::map<const InputItem*, fs::path> paths_;
  std::set<fs::path> made_;
};

}  // namespace

fs::path image_output_path(const std::string& rel, const std::string& extension) {
  fs::path safe;
  for (const fs::path& part : fs::path(rel).lexically_normal().relative_path())
    if (part != ".." && part != "." && !part.empty()) safe /= part;
  if (safe.empty()) safe = "image";
  safe.replace_extension(extension);
  return safe;
}

std::unique_ptr<OutputSink> make_output_sink(const Options& o, const OutputSpec& spec,
                                             const InputList& inputs, RunJournal& journal) {
  if (o.format == OutputFormat::images) return std::make_unique<ImagesSink>(o, inputs);
  return std::make_unique<NpySink>(o, spec, inputs, journal);
}

}  // namespace imgprep

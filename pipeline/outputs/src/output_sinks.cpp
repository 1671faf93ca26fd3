#include "imgprep/outputs/output_sinks.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <utility>

#include "imgprep/outputs/out_dir.h"
#include "npy_header.h"
#include "shard_sink.h"
#include "tar_writer.h"

namespace imgprep {
namespace fs = std::filesystem;
// Shared with the wds sink (shard_sink.h).
ManifestRow row_for(const Job& job, bool gpu_decoding) {
  ManifestRow row;
  row.path = job.item->rel;
  row.ok = job.ok();
  row.error = job.error;
  row.warning = job.warning;
  row.label = job.item->label;
  row.width = job.width;
  row.height = job.height;
  if (gpu_decoding && job.ok()) row.decoder = job.gpu_decoded ? "gpu" : "cpu";
  row.gpu_fallback = job.gpu_fallback;
  return row;
}

void refuse_inside_out(InsideOut& inside_out, Job& job) {
  if (job.ok() && inside_out.holds(job.item->path))
    job.error = "the file lies inside OUT; imgprep does not read its own outputs";
}

void remove_stale_shards(const fs::path& dir, int kept, const char* extension) {
  const std::regex pattern(std::string(R"((shard|labels)-(\d{5,})\.)") + extension);
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, pattern) && std::stoi(m[2]) >= kept) fs::remove(e.path(), ec);
  }
}

nlohmann::json tensor_description(const OutputSpec& spec) {
  return {{"item_shape", npy_item_shape(spec)},
          {"dtype", to_string(spec.dtype)},
          {"layout", to_string(spec.layout)}};
}

ShardSink::ShardSink(const Options& o, RunJournal& journal, const char* extension)
    : dir_(o.output),
      extension_(extension),
      manifest_(o.output),
      gpu_decoding_(o.decode == DecodeOn::gpu),
      journal_(journal),
      inside_out_(o.output),
      first_input_(journal.state().next_input),
      failed_(journal.state().failed) {
  manifest_.write_committed(journal.state().manifest_rows);
}

void ShardSink::consume(Job& job) {
  refuse_inside_out(inside_out_, job);
  ManifestRow row = row_for(job, gpu_decoding_);
  Placed placed;
  if (job.ok())
    placed = place(job, row);
  else
    ++failed_;
  manifest_.add(row);
  if (placed.completed_shard) {
    journal_.record(shards_written(), first_input_ + job.seq + 1, failed_, manifest_.pending(),
                    placed.shard_bytes);
    manifest_.commit_pending();
  }
}

nlohmann::json ShardSink::finish() {
  finish_shards();
  manifest_.commit_pending();
  manifest_.finish();
  remove_stale_shards(dir_, shards_written(), extension_);
  return output_description();
}

void ShardSink::interrupt() {
  abandon_shards();
  manifest_.finish();
}

namespace {

class NpySink : public ShardSink {
 public:
  NpySink(const Options& o, const OutputSpec& spec, const InputList& inputs, RunJournal& journal)
      : ShardSink(o, journal, "npy"),
        spec_(spec),
        shards_(o.output, o.shard_size, npy_descr(spec.dtype), npy_item_shape(spec),
                inputs.has_labels, static_cast<int64_t>(inputs.items.size()),
                journal.state().shards) {}


 private:
  Placed place(const Job& job, ManifestRow& row) override {
    const ShardWriter::Location at = shards_.append(job.output.data(), job.item->label);
    row.shard = at.shard;
    row.row = at.row;
    return {at.completed_shard, 0};
  }
  int shards_written() const override { return shards_.shards_written(); }
  void finish_shards() override { shards_.finish(); }
  void abandon_shards() override { shards_.abandon(); }
  nlohmann::json output_description() const override {
    nlohmann::json output = {{"format", "npy"}, {"shards", shards_.shards_written()}};
    output.update(tensor_description(spec_));
    return output;
  }

  OutputSpec spec_;
  ShardWriter shards_;
};

// Where each input of the whole ordered list goes (a --shard part's names are the whole run's,
// computed over the whole list's relative paths, which a part keeps).
std::vector<fs::path> whole_list_output_paths(const InputList& inputs,
                                              const std::string& extension) {
  if (!inputs.unsliced_rels.empty()) return image_output_paths(inputs.unsliced_rels, extension);
  std::vector<std::string> rels;
  rels.reserve(inputs.items.size());
  for (const InputItem& item : inputs.items) rels.push_back(item.rel);
  return image_output_paths(rels, extension);
}

class ImagesSink : public OutputSink {
 public:
  ImagesSink(const Options& o, const InputList& inputs)
      : out_(o.output),
        gpu_decoding_(o.decode == DecodeOn::gpu),
        manifest_(o.output),
        inside_out_(o.output),
        items_(inputs.items),
        paths_(whole_list_output_paths(inputs, o.image_format)) {}

  // Each image file is complete on its own, so its row is committed at once. A file that
  // cannot be written because of its name or place fails its row only.
  void consume(Job& job) override {
    refuse_inside_out(inside_out_, job);
    std::string output;
    if (job.ok()) {
      const fs::path& rel = paths_.at(job.item->key);
      try {
        write_image(rel, job.output);
        output = rel.generic_string();
      } catch (const OutputError& e) {
        if (!e.about_the_name()) throw;
        job.error = e.what();
      }
    }
    ManifestRow row = row_for(job, gpu_decoding_);
    row.output = output;
    manifest_.add(row);
    manifest_.commit_pending();
  }

  // The image files were committed without an fsync each; one syncfs makes them durable
  // before the manifest (and meta.json) says they are complete.
  nlohmann::json finish() override {
    out_.sync_filesystem();
    manifest_.finish();
    return {{"format", "images"}};
  }

  void interrupt() override {
    out_.sync_filesystem();
    manifest_.finish();
  }

 private:
  void write_image(const fs::path& rel, const Bytes& bytes) {
    const Folder& folder = folder_of(rel.parent_path());
    const std::string name = rel.filename().string();
    refuse_replacing_input(folder, name);
    AtomicFile file(folder, name);
    file.write(bytes.data(), bytes.size());
    file.commit(false);
  }

  // The folder rel (relative to OUT), entered one component at a time, created where missing,
  // never through a symlink. Kept while consecutive images share it.
  const Folder& folder_of(const fs::path& rel) {
    if (folder_ && folder_->first == rel) return folder_->second;
    folder_.reset();
    Folder folder = out_;
    for (const fs::path& part : rel) folder = folder.sub(part.string());
    return folder_.emplace(rel, std::move(folder)).second;
  }

  // The last guard against writing over an input: a file already under the output's name that
  // is one of the inputs (a list file may name anything, a symlink may lead anywhere) fails the
  // row. The inputs are looked up the first time any output name is taken, and only then.
  void refuse_replacing_input(const Folder& folder, const std::string& name) {
    struct stat st;
    if (::fstatat(folder.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (!input_files_) {
      input_files_.emplace();
      struct stat input;
      for (const InputItem& item : items_)
        if (::stat(item.path.c_str(), &input) == 0)
          input_files_->insert({input.st_dev, input.st_ino});
    }
    if (input_files_->count({st.st_dev, st.st_ino}))
      throw OutputError((folder.path() / name).string() +
                            " is one of this run's inputs; imgprep never writes over an input",
                        EEXIST);
  }

  Folder out_;
  bool gpu_decoding_;
  ManifestWriter manifest_;
  InsideOut inside_out_;
  const std::vector<InputItem>& items_;
  std::vector<fs::path> paths_;  // by position in the whole list (InputItem::key)
  std::optional<std::pair<fs::path, Folder>> folder_;
  std::optional<std::set<std::pair<dev_t, ino_t>>> input_files_;
};

// Where --format images writes an input, relative to OUT: the input's relative path with the
// new extension, kept inside OUT (".." and root components are dropped).
fs::path image_output_path(const std::string& rel, const std::string& extension) {
  fs::path safe;
  for (const fs::path& part : fs::path(rel).lexically_normal().relative_path())
    if (part != ".." && part != "." && !part.empty()) safe /= part;
  if (safe.empty()) safe = "image";
  safe.replace_extension(extension);
  return safe;
}

}  // namespace

std::vector<fs::path> image_output_paths(const std::vector<std::string>& rels,
                                         const std::string& extension) {
  // A name taken by another input's output changes only in its last component, so the folders
  // are known up front: a file is never given a name one of them needs.
  std::vector<fs::path> natural;
  natural.reserve(rels.size());
  std::set<fs::path> taken;
  for (const std::string& rel : rels) {
    natural.push_back(image_output_path(rel, extension));
    for (fs::path f = natural.back().parent_path(); !f.empty(); f = f.parent_path())
      taken.insert(f);
  }
  std::vector<fs::path> paths;
  paths.reserve(rels.size());
  for (size_t i = 0; i < rels.size(); ++i) {
    const fs::path& first = natural[i];
    fs::path out = first;
    if (taken.count(out)) out = image_output_path(rels[i] + "." + extension, extension);
    for (int n = 2; taken.count(out) || out.parent_path() != first.parent_path(); ++n)
      out = first.parent_path() /
            (first.stem().string() + "-" + std::to_string(n) + first.extension().string());
    taken.insert(out);
    paths.push_back(std::move(out));
  }
  return paths;
}

ShardOutputSize npy_output_size(const OutputSpec& spec, int shard_size, int64_t rows,
                                bool labels) {
  // ShardWriter sizes every shard's header for a full shard.
  std::vector<int64_t> full_shape = npy_item_shape(spec);
  full_shape.insert(full_shape.begin(), shard_size);
  const uint64_t header = npy_header(npy_descr(spec.dtype), full_shape).size();
  ShardOutputSize size;
  for (int64_t first = 0; first < rows; first += shard_size) {
    const int64_t n = std::min<int64_t>(shard_size, rows - first);
    size.bytes += header + static_cast<uint64_t>(n) * spec.bytes();
    if (labels) size.bytes += npy_header("<i8", {n}).size() + n * sizeof(int64_t);
    ++size.shards;
  }
  return size;
}

ShardOutputSize wds_output_size(const OutputSpec& spec, int shard_size, int64_t rows,
                                bool labels) {
  const uint64_t tensor = npy_header(npy_descr(spec.dtype), npy_item_shape(spec)).size() +
                          spec.bytes();
  const uint64_t sample = tar_member_bytes(tensor) + (labels ? tar_member_bytes(1) : 0) +
                          tar_member_bytes(kTarBlock);
  ShardOutputSize size;
  for (int64_t first = 0; first < rows; first += shard_size) {
    size.bytes += static_cast<uint64_t>(std::min<int64_t>(shard_size, rows - first)) * sample +
                  kTarEnd;
    ++size.shards;
  }
  return size;
}

std::unique_ptr<OutputSink> make_output_sink(const Options& o, const OutputSpec& spec,
                                             const InputList& inputs, RunJournal* journal) {
  if (o.format == OutputFormat::images) return std::make_unique<ImagesSink>(o, inputs);
  if (writes_tars(o.format)) return make_wds_sink(o, spec, *journal);
  return std::make_unique<NpySink>(o, spec, inputs, *journal);
}

}  // namespace imgprep

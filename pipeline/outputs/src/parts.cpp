#include "imgprep/outputs/parts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include "imgprep/core/json_text.h"
#include "imgprep/core/options.h"
#include "imgprep/outputs/atomic_file.h"
#include "imgprep/outputs/out_dir.h"
#include "imgprep/outputs/resume_check.h"
#include "imgprep/outputs/shard_writer.h"
#include "npy_header.h"
#include "shard_sink.h"
#include "tar_writer.h"

namespace imgprep {
namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path part_folder(const fs::path& out, const InputSlice& slice) {
  if (slice.count <= 1) return out;
  char name[64];
  std::snprintf(name, sizeof name, "part-%05d-of-%05d", slice.index, slice.count);
  return out / name;
}

json part_record(const InputSlice& slice, const InputList& inputs) {
  return {{"index", slice.index},
          {"count", slice.count},
          {"first_input", inputs.first},
          {"inputs", inputs.items.size()},
          {"whole", {{"count", inputs.unsliced}, {"fingerprint", inputs.unsliced_fingerprint}}}};
}

namespace {

[[noreturn]] void refuse(const std::string& why) { throw UsageError("merge: " + why); }

std::string text_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// One part as the merge reads it.
struct Part {
  int index = 0;
  fs::path folder;
  std::string name;  // "part 3 of 8 (OUT/part-00003-of-00008)"
  std::unique_ptr<OutLock> lock;
  json meta;
  OutputFormat format = OutputFormat::npy;
  int64_t rows = 0;               // its manifest's lines
  int64_t failed = 0;             // ...of which failed rows
  std::string classes;            // its classes.json; empty when it has none
  std::vector<int> shard_rows;    // rows per shard (npy, wds)
};

// Calls on_row with each line of the part's manifest, in order, reading it as it goes: a merge
// holds no part's rows in memory, however many.
template <class OnRow>
void for_each_row(const Part& part, OnRow on_row) {
  std::ifstream manifest(part.folder / "manifest.jsonl", std::ios::binary);
  for (std::string line; std::getline(manifest, line);) on_row(line);
  if (manifest.bad()) throw OutputError("cannot read " + (part.folder / "manifest.jsonl").string());
}

// The part folders of OUT by slice count, then by index.
std::map<int, std::map<int, fs::path>> find_parts(const fs::path& out) {
  static const std::regex pattern(R"(part-(\d{5,9})-of-(\d{5,9}))");
  std::map<int, std::map<int, fs::path>> found;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(out, ec)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, pattern) && e.is_directory(ec) && !e.is_symlink(ec))
      found[std::stoi(m[2])][std::stoi(m[1])] = e.path();
  }
  if (ec) throw OutputError("cannot list OUT " + out.string() + ": " + ec.message());
  return found;
}

// Refuses a meta.json that lacks what the merge reads, naming the field.
void check_shape(const json& meta, const std::string& name) {
  using Test = bool (json::*)() const noexcept;
  const std::pair<const char*, Test> fields[] = {
      {"/complete", &json::is_boolean},
      {"/part/index", &json::is_number_integer},
      {"/part/count", &json::is_number_integer},
      {"/part/first_input", &json::is_number_unsigned},
      {"/part/inputs", &json::is_number_unsigned},
      {"/part/whole/count", &json::is_number_unsigned},
      {"/part/whole/fingerprint", &json::is_string},
      {"/identity/settings", &json::is_object},
      {"/config", &json::is_object},
  };
  if (!meta.is_object()) refuse(name + ": its meta.json is not a JSON object");
  if (!meta.contains("part"))
    refuse(name + ": its meta.json has no \"part\": not the output of a --shard K/N run");
  for (const auto& [pointer, test] : fields)
    if (!meta.contains(json::json_pointer(pointer)) ||
        !(meta.at(json::json_pointer(pointer)).*test)())
      refuse(name + ": its meta.json has no usable \"" + std::string(pointer + 1) +
             "\" (made by another version of imgprep?)");
  if (!meta["complete"].get<bool>()) return;
  for (const char* pointer : {"/output/format", "/failed", "/has_labels", "/skipped"})
    if (!meta.contains(json::json_pointer(pointer)))
      refuse(name + ": its meta.json has no \"" + std::string(pointer + 1) + "\"");
}

// A part's meta.json, its shape checked and its slice compared with its folder's name.
json read_part_meta(const Part& part, int count, const std::map<int, fs::path>& folders) {
  const fs::path path = part.folder / "meta.json";
  if (!fs::is_regular_file(path))
    refuse(part.name + " has no meta.json: its run has not started (run it with --shard " +
           std::to_string(part.index) + "/" + std::to_string(count) + ")");
  const json meta = json::parse(text_of(path), nullptr, false);
  if (meta.is_discarded()) refuse(part.name + ": its meta.json is not JSON");
  check_shape(meta, part.name);
  const int index = meta["part"]["index"].get<int>(), of = meta["part"]["count"].get<int>();
  if (index != part.index || of != count)
    refuse(part.name + " holds part " + std::to_string(index) + " of " + std::to_string(of) +
           " by its meta.json: a copied or renamed folder" +
           (of == count && folders.count(index) ? "; part " + std::to_string(index) +
                                                      " is given twice"
                                                : std::string()));
  if (!meta["complete"].get<bool>())
    refuse(part.name + " is incomplete: its run was interrupted or is still running; run it "
           "again with --resume");
  if (meta.value("stopped_early", false))
    refuse(part.name + " stopped early (--max-errors): its last inputs have no rows");
  return meta;
}

// The settings a part was made with, but for its slice.
json settings_but_slice(const json& meta) {
  json settings = meta["identity"]["settings"];
  settings.erase("shard");
  return settings;
}

// Refuses a part whose settings, inputs or classes are not the first part's.
void check_same_job(const Part& part, const Part& first) {
  const json mine = settings_but_slice(part.meta), theirs = settings_but_slice(first.meta);
  std::set<std::string> keys;
  for (const auto& [key, value] : mine.items()) keys.insert(key);
  for (const auto& [key, value] : theirs.items()) keys.insert(key);
  for (const std::string& key : keys) {
    if (!mine.contains(key) || !theirs.contains(key))
      refuse(part.name + " and " + first.name + " were made by different versions of imgprep " +
             "(only one records the setting \"" + key + "\")");
    if (mine[key] != theirs[key])
      refuse(part.name + " was made with " + setting_as_given(key, mine[key]) + ", " +
             first.name + " with " + setting_as_given(key, theirs[key]) +
             "; every part needs the same settings");
  }
  const json& whole = part.meta["part"]["whole"];
  const json& first_whole = first.meta["part"]["whole"];
  if (whole != first_whole)
    refuse(part.name + " was cut from other inputs than " + first.name + " (" +
           json_text(whole["count"]) + " inputs, fingerprint " +
           whole["fingerprint"].get<std::string>() + "; " + json_text(first_whole["count"]) +
           ", " + first_whole["fingerprint"].get<std::string>() +
           "): did INPUT change between their runs?");
  if (part.classes != first.classes)
    refuse(part.name + " has other classes (classes.json) than " + first.name);
  if (part.meta["has_labels"] != first.meta["has_labels"])
    refuse(part.name + " has labels where " + first.name + " has none, or the other way round");
}

// Refuses a part that does not hold exactly its slice's inputs, one manifest row each.
void check_coverage(const Part& part, int count) {
  const uint64_t whole = part.meta["part"]["whole"]["count"].get<uint64_t>();
  const uint64_t begin = whole * part.index / count, end = whole * (part.index + 1) / count;
  const uint64_t first = part.meta["part"]["first_input"].get<uint64_t>();
  const uint64_t inputs = part.meta["part"]["inputs"].get<uint64_t>();
  if (first != begin || first + inputs != end)
    refuse(part.name + " holds inputs " + std::to_string(first) + ".." +
           std::to_string(first + inputs) + ", not its slice " + std::to_string(begin) + ".." +
           std::to_string(end) + " of the " + std::to_string(whole));
  if (static_cast<uint64_t>(part.rows) != inputs)
    refuse(part.name + ": its manifest.jsonl has " + std::to_string(part.rows) +
           " rows for its " + std::to_string(inputs) + " inputs (damaged?)");
}

// The value of an integer field a manifest line carries (-1 when it has none). A field name
// inside a path or message is escaped (\"), so `,"name":` occurs only as the field.
int64_t row_integer(const std::string& row, const char* field) {
  const std::string key = std::string(",\"") + field + "\":";
  const size_t at = row.find(key);
  if (at == std::string::npos) return -1;
  return std::strtoll(row.c_str() + at + key.size(), nullptr, 10);
}

bool row_ok(const std::string& row) { return row.find(",\"status\":\"ok\"") != std::string::npos; }

// The row with its "shard" moved on by `offset` shards.
std::string renumbered(const std::string& row, int offset) {
  const std::string key = ",\"shard\":";
  const size_t at = row.find(key);
  if (at == std::string::npos || offset == 0) return row;
  const size_t digits = at + key.size();
  const size_t end = row.find_first_not_of("0123456789", digits);
  return row.substr(0, digits) + std::to_string(std::stoll(row.substr(digits, end - digits)) + offset) +
         row.substr(end);
}

// The relative path an image row's "output" names.
std::string row_output(const std::string& row, const std::string& name) {
  const std::string key = ",\"output\":";
  const size_t at = row.find(key);
  try {
    if (at != std::string::npos) return json_string_bytes(std::string_view(row).substr(at + key.size()));
  } catch (const std::invalid_argument&) {
  }
  refuse(name + ": a manifest row of an image has no usable \"output\" (damaged?)");
}

std::string tar_name(int index) { return TarShardWriter::shard_name(index); }

// The part's --format, as its meta.json records it.
OutputFormat format_of(const Part& part) {
  const std::string format = part.meta["output"].value("format", "");
  try {
    return parse_format(format);
  } catch (const UsageError&) {
    refuse(part.name + " has an output format this imgprep cannot merge: " + format);
  }
}

// One pass over the part's manifest: counts its rows, failed rows and each shard's rows, and
// checks that every image file a row names is there.
void tally_rows(Part& part) {
  const json& output = part.meta["output"];
  if (writes_shards(part.format)) {
    if (!output.contains("shards") || !output["shards"].is_number_unsigned())
      refuse(part.name + ": its meta.json's \"output\" has no \"shards\"");
    part.shard_rows.assign(output["shards"].get<size_t>(), 0);
  }
  for_each_row(part, [&](const std::string& row) {
    ++part.rows;
    if (!row_ok(row)) {
      ++part.failed;
      return;
    }
    if (!writes_shards(part.format)) {
      const std::string rel = row_output(row, part.name);
      struct stat st;
      if (::lstat((part.folder / rel).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        refuse(part.name + ": its image " + rel + " is missing");
      return;
    }
    const int64_t shard = row_integer(row, "shard");
    if (shard < 0 || shard >= static_cast<int64_t>(part.shard_rows.size()))
      refuse(part.name + ": a manifest row names shard " + std::to_string(shard) + " of its " +
             std::to_string(part.shard_rows.size()) + " (damaged?)");
    ++part.shard_rows[shard];
  });
}

// Checks that every shard of the part (npy: with its labels) is as its writer left it.
void check_shard_files(const Part& part) {
  const json& output = part.meta["output"];
  const bool tars = writes_tars(part.format);
  const int shard_size = part.meta["identity"]["settings"].value("shard_size", 0);
  const std::string descr = tars ? "" : npy_descr(parse_dtype(output.value("dtype", "")));
  const auto item_shape = output.value("item_shape", std::vector<int64_t>{});
  const bool labels = part.meta["has_labels"].get<bool>();
  for (size_t s = 0; s < part.shard_rows.size(); ++s) {
    const int index = static_cast<int>(s);
    std::string problem;
    if (tars) {
      std::error_code ec;
      const fs::path file = part.folder / tar_name(index);
      const uintmax_t size = fs::file_size(file, ec);
      problem = tar_problem(file, ec ? 0 : size);
      if (!problem.empty()) problem = tar_name(index) + " " + problem;
    } else {
      problem = ShardWriter::shard_problem(part.folder, index, shard_size, descr, item_shape,
                                           labels, part.shard_rows[s]);
    }
    if (!problem.empty()) refuse(part.name + ": its " + problem);
  }
}

// Puts the file `from` into `folder` as `name`: a hard link, made under a temporary name and
// renamed over the name, or a copy where the file system refuses links. Returns whether it
// copied.
bool take_file(const fs::path& from, const Folder& folder, const std::string& name) {
  const std::string temp = AtomicFile::temp_name(name);
  ::unlinkat(folder.fd(), temp.c_str(), 0);  // a killed merge's
  if (::linkat(AT_FDCWD, from.c_str(), folder.fd(), temp.c_str(), 0) == 0) {
    if (::renameat(folder.fd(), temp.c_str(), folder.fd(), name.c_str()) != 0)
      throw OutputError("cannot rename into " + (folder.path() / name).string() + ": " +
                        std::strerror(errno), errno);
    // Renaming a link over another link to the same file does nothing (an earlier merge's).
    ::unlinkat(folder.fd(), temp.c_str(), 0);
    return false;
  }
  if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP &&
      errno != EOPNOTSUPP)
    throw OutputError("cannot link " + from.string() + " into " + folder.path().string() + ": " +
                          std::strerror(errno), errno);
  std::ifstream in(from, std::ios::binary);
  if (!in) throw OutputError("cannot read " + from.string());
  AtomicFile file(folder, name);
  std::vector<char> buffer(size_t{1} << 20);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0)
    file.write(buffer.data(), static_cast<size_t>(in.gcount()));
  if (in.bad()) throw OutputError("cannot read " + from.string());
  file.commit(false);
  return true;
}

// The folder rel (relative to OUT) in OUT, created where missing, never through a symlink.
Folder folder_in(const Folder& out, const fs::path& rel) {
  Folder folder = out;
  for (const fs::path& part : rel) folder = folder.sub(part.string());
  return folder;
}

std::vector<Part> read_parts(const fs::path& out) {
  const auto found = find_parts(out);
  if (found.empty())
    refuse("OUT " + out.string() + " holds no parts: `imgprep run INPUT -o OUT --shard K/N` " +
           "writes part K into OUT/part-0000K-of-0000N");
  if (found.size() > 1) {
    std::string counts;
    for (const auto& [count, folders] : found)
      counts += (counts.empty() ? "" : ", ") + std::to_string(count);
    refuse("OUT " + out.string() + " holds parts of different splits (into " + counts +
           " slices); keep the folders of one");
  }
  const int count = found.begin()->first;
  const std::map<int, fs::path>& folders = found.begin()->second;
  std::string missing;
  int missing_count = 0;
  for (int k = 0; k < count; ++k)
    if (!folders.count(k) && ++missing_count <= 5)
      missing += (missing.empty() ? "" : ", ") + std::to_string(k);
  if (missing_count > 0)
    refuse(std::to_string(missing_count) + " of the " + std::to_string(count) +
           " parts are missing: " + missing + (missing_count > 5 ? ", ..." : "") +
           " (run `imgprep run ... --shard K/" + std::to_string(count) + "` for each)");
  if (folders.rbegin()->first >= count)
    refuse(folders.rbegin()->second.string() + " is no part of a split into " +
           std::to_string(count) + " slices");

  std::vector<Part> parts(count);
  for (int k = 0; k < count; ++k) {
    Part& part = parts[k];
    part.index = k;
    part.folder = folders.at(k);
    part.name = "part " + std::to_string(k) + " of " + std::to_string(count) + " (" +
                part.folder.string() + ")";
    try {
      part.lock = std::make_unique<OutLock>(part.folder);
    } catch (const OutputError& e) {
      refuse(part.name + ": " + e.what());
    }
    part.meta = read_part_meta(part, count, folders);
    part.format = format_of(part);
    if (fs::is_regular_file(part.folder / "classes.json"))
      part.classes = text_of(part.folder / "classes.json");
    tally_rows(part);
    check_coverage(part, count);
    if (k > 0) check_same_job(part, parts[0]);
  }
  return parts;
}

}  // namespace

MergeSummary merge_parts(const fs::path& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) refuse("OUT " + out.string() + " is not a folder");
  const OutLock lock(out);
  // A run over OUT itself put its files there: parts merged into them would mix two runs.
  if (fs::exists(out / "meta.json")) {
    const json earlier = json::parse(text_of(out / "meta.json"), nullptr, false);
    if (!earlier.is_object() || !earlier.contains("merged"))
      refuse("OUT " + out.string() + " holds the output of a run over OUT itself (its " +
             "meta.json is no merge's); merging parts into it would mix the two");
  }
  std::vector<Part> parts = read_parts(out);
  const Part& first = parts[0];
  const OutputFormat format = first.format;  // every part's: --format is one of the settings
  const bool shards = writes_shards(format), tars = writes_tars(format);
  if (shards)
    for (const Part& part : parts) check_shard_files(part);

  MergeSummary summary;
  summary.parts = static_cast<int>(parts.size());
  summary.format = to_string(format);
  summary.inputs = first.meta["part"]["whole"]["count"].get<int64_t>();

  // What one run over the whole list records, and that this is a merge (complete only last).
  json settings = first.meta["identity"]["settings"];
  settings["shard"] = "0/1";
  json config = first.meta["config"];
  config["shard"] = "0/1";
  config["output"] = out.string();
  json folders = json::array(), engines = json::array();
  for (const Part& part : parts) {
    folders.push_back(part.folder.filename().string());
    engines.push_back(part.meta.value("engine", ""));
  }
  nlohmann::ordered_json meta = {
      {"imgprep_version", first.meta.value("imgprep_version", "")},
      {"complete", false},
      {"identity",
       {{"settings", settings},
        {"inputs",
         {{"count", summary.inputs},
          {"fingerprint", first.meta["part"]["whole"]["fingerprint"]}}}}},
      {"config", config},
      {"merged", {{"parts", folders}, {"engines", engines}}},
  };
  AtomicFile::write_file(out / "meta.json", json_text(meta, 2) + "\n");

  const Folder out_folder(out);
  json shard_list = json::array();
  std::vector<int> offsets;
  int next_shard = 0;
  int64_t next_row = 0;
  for (const Part& part : parts) {
    offsets.push_back(next_shard);
    if (!shards) {
      for_each_row(part, [&](const std::string& row) {
        if (!row_ok(row)) return;
        const fs::path rel = row_output(row, part.name);
        summary.copied += take_file(part.folder / rel, folder_in(out_folder, rel.parent_path()),
                                    rel.filename().string());
        ++summary.files;
      });
      continue;
    }
    for (size_t s = 0; s < part.shard_rows.size(); ++s, ++next_shard) {
      const int index = static_cast<int>(s);
      const std::string from = tars ? tar_name(index) : ShardWriter::shard_name(index);
      const std::string to = tars ? tar_name(next_shard) : ShardWriter::shard_name(next_shard);
      summary.copied += take_file(part.folder / from, out_folder, to);
      json shard = {{"file", to}, {"rows", part.shard_rows[s]}, {"first_row", next_row},
                    {"from", part.folder.filename().string() + "/" + from}};
      if (!tars && part.meta["has_labels"].get<bool>()) {
        summary.copied += take_file(part.folder / ShardWriter::labels_name(index), out_folder,
                                    ShardWriter::labels_name(next_shard));
        shard["labels"] = ShardWriter::labels_name(next_shard);
      }
      shard_list.push_back(shard);
      next_row += part.shard_rows[s];
      ++summary.files;
    }
  }
  // An earlier merge's shards (of either kind) past this one's.
  for (const char* extension : {"npy", "tar"})
    remove_stale_shards(out, shards ? next_shard : 0, extension);

  AtomicFile manifest(out / "manifest.jsonl");
  std::string lines;
  json part_list = json::array();
  for (size_t k = 0; k < parts.size(); ++k) {
    for_each_row(parts[k], [&](const std::string& row) {
      lines += renumbered(row, offsets[k]) + "\n";
      if (lines.size() >= (size_t{1} << 20)) {
        manifest.write(lines.data(), lines.size());
        lines.clear();
      }
    });
    summary.failed += parts[k].failed;
    part_list.push_back({{"folder", parts[k].folder.filename().string()},
                         {"first_input", parts[k].meta["part"]["first_input"]},
                         {"inputs", parts[k].meta["part"]["inputs"]},
                         {"failed", parts[k].failed},
                         {"first_shard", offsets[k]}});
  }
  manifest.write(lines.data(), lines.size());
  manifest.commit();
  if (!first.classes.empty()) AtomicFile::write_file(out / "classes.json", first.classes);
  json index = {{"format", summary.format}, {"inputs", summary.inputs}, {"rows", next_row},
                {"parts", part_list}};
  if (shards) index["shards"] = shard_list;
  AtomicFile::write_file(out / "index.json", json_text(index, 2) + "\n");
  out_folder.sync_filesystem();  // the links and copies are durable before meta.json says so

  json output = first.meta["output"];
  if (shards) output["shards"] = next_shard;
  meta["complete"] = true;
  meta["stopped_early"] = false;
  meta["output"] = output;
  meta["inputs"] = summary.inputs;
  meta["failed"] = summary.failed;
  meta["skipped"] = first.meta["skipped"];
  meta["has_labels"] = first.meta["has_labels"];
  AtomicFile::write_file(out / "meta.json", json_text(meta, 2) + "\n");
  return summary;
}

}  // namespace imgprep

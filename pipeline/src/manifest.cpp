#include "imgprep/pipeline/json_text.h"
#include "imgprep/pipeline/manifest.h"

#include <nlohmann/json.hpp>

namespace imgprep {

std::string manifest_line(const ManifestRow& r) {
  nlohmann::ordered_json j;
  j["path"] = r.path;
  j["status"] = r.ok ? "ok" : "failed";
  if (!r.ok) j["error"] = r.error;
  if (!r.warning.empty()) j["warning"] = r.warning;
  j["label"] = r.label >= 0 ? nlohmann::ordered_json(r.label) : nlohmann::ordered_json(nullptr);
  if (r.ok && r.shard >= 0) {
    j["shard"] = r.shard;
    j["row"] = r.row;
  }
  if (r.ok && !r.output.empty()) j["output"] = r.output;
  if (r.width > 0) {
    j["width"] = r.width;
    j["height"] = r.height;
  }
  // Paths and decoder messages may hold bytes that are not UTF-8.
  return json_text(j);
}

ManifestWriter::ManifestWriter(const std::filesystem::path& out_dir)
    : file_(out_dir / "manifest.jsonl") {}

void ManifestWriter::write_committed(const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    buffer_ += line;
    buffer_ += '\n';
  }
}

void ManifestWriter::add(const ManifestRow& row) { pending_.push_back(manifest_line(row)); }

void ManifestWriter::commit_pending() {
  write_committed(pending_);
  pending_.clear();
  if (buffer_.size() > (1 << 16)) {
    file_.write(buffer_.data(), buffer_.size());
    buffer_.clear();
  }
}

void ManifestWriter::finish() {
  pending_.clear();
  file_.write(buffer_.data(), buffer_.size());
  buffer_.clear();
  file_.commit();
}

}  // namespace imgprep

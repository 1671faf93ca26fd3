#include "imgprep/core/json_text.h"
#include "imgprep/outputs/manifest.h"

namespace imgprep {

// Written field by field: the strings (paths, and decoder messages that may quote file bytes)
// keep every byte, so a path names its file again even when it is not UTF-8.
std::string manifest_line(const ManifestRow& r) {
  std::string line = "{\"path\":" + json_string_keeping_bytes(r.path);
  line += r.ok ? ",\"status\":\"ok\"" : ",\"status\":\"failed\"";
  if (!r.ok) line += ",\"error\":" + json_string_keeping_bytes(r.error);
  if (!r.warning.empty()) line += ",\"warning\":" + json_string_keeping_bytes(r.warning);
  line += ",\"label\":" + (r.label >= 0 ? std::to_string(r.label) : std::string("null"));
  if (r.ok && r.shard >= 0) line += ",\"shard\":" + std::to_string(r.shard);
  if (r.ok && r.row >= 0) line += ",\"row\":" + std::to_string(r.row);
  if (r.ok && !r.key.empty()) line += ",\"key\":\"" + r.key + "\"";
  if (r.ok && !r.output.empty()) line += ",\"output\":" + json_string_keeping_bytes(r.output);
  if (r.width > 0)
    line += ",\"width\":" + std::to_string(r.width) + ",\"height\":" + std::to_string(r.height);
  if (r.ok && !r.decoder.empty()) line += ",\"decoder\":\"" + r.decoder + "\"";
  if (!r.gpu_fallback.empty())
    line += ",\"gpu_fallback\":" + json_string_keeping_bytes(r.gpu_fallback);
  return line + "}";
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
  if (buffer_.size() > (1 << 16)) flush();
}

void ManifestWriter::finish() {
  pending_.clear();
  flush();
  file_.commit();
}

// At the offset the buffer belongs at: after a failed write (a full disk), finish() can still
// try again, and what the failed write left is written over, never repeated.
void ManifestWriter::flush() {
  file_.write_at(buffer_.data(), buffer_.size(), written_);
  written_ += buffer_.size();
  buffer_.clear();
}

}  // namespace imgprep

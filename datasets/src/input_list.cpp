#include "imgprep/datasets/input_list.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <utility>

#include "imgprep/datasets/image_format.h"

namespace imgprep {
namespace fs = std::filesystem;
namespace {

bool sniffs_as_image(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  uint8_t head[kSniffBytes] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  return sniff_format({head, static_cast<size_t>(in.gcount())}) != ImageFormat::unknown;
}

class FolderWalk {
 public:
  explicit FolderWalk(InputList& out) : out_(out) {}

  void walk(const fs::path& dir, const std::string& rel) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) {
      out_.walk_errors.push_back("cannot open folder " + dir.string());
      return;
    }
    if (!visited_.insert({st.st_dev, st.st_ino}).second) {
      out_.walk_errors.push_back("symlink loop skipped: " + dir.string());
      return;
    }
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      out_.walk_errors.push_back("cannot read folder " + dir.string() + ": " + ec.message());
      return;
    }
    for (const fs::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) {
        out_.walk_errors.push_back("cannot read folder " + dir.string() + ": " + ec.message());
        break;
      }
      visit(it->path(), rel.empty() ? it->path().filename().string()
                                    : rel + "/" + it->path().filename().string());
    }
    visited_.erase({st.st_dev, st.st_ino});
  }

 private:
  void visit(const fs::path& path, const std::string& rel) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);  // follows symlinks
    if (!ec && fs::is_directory(status)) {
      walk(path, rel);
      return;
    }
    const bool image_name = has_image_extension(path);
    // Regular files are sniffed; anything else (dangling links, pipes) is reported only if its
    // name says it is an image, and then fails when read.
    if (image_name || (!ec && fs::is_regular_file(status) && sniffs_as_image(path)))
      out_.items.push_back({path, rel, kNoLabel});
    else
      ++out_.skipped;
  }

  InputList& out_;
  std::set<std::pair<dev_t, ino_t>> visited_;  // folders on the current path, for loops
};

void label_by_first_level_folder(InputList& list) {
  std::map<std::string, int64_t> class_index;
  for (const InputItem& item : list.items) {
    const size_t slash = item.rel.find('/');
    if (slash != std::string::npos) class_index.emplace(item.rel.substr(0, slash), 0);
  }
  if (class_index.empty()) return;
  for (auto& [name, index] : class_index) {
    index = static_cast<int64_t>(list.classes.size());
    list.classes.push_back(name);
  }
  for (InputItem& item : list.items) {
    const size_t slash = item.rel.find('/');
    if (slash != std::string::npos) item.label = class_index.at(item.rel.substr(0, slash));
  }
  list.has_labels = true;
}

InputList list_folder(const fs::path& root) {
  InputList list;
  FolderWalk(list).walk(root, "");
  std::sort(list.items.begin(), list.items.end(),
            [](const InputItem& a, const InputItem& b) { return a.rel < b.rel; });
  label_by_first_level_folder(list);
  return list;
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

bool parse_int(const std::string& s, int64_t& value) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

InputList list_file(const fs::path& list_path) {
  if (sniffs_as_image(list_path))
    throw InputError("INPUT is an image, not a folder or a list file: " + list_path.string());
  std::ifstream in(list_path);
  if (!in) throw InputError("cannot read list file " + list_path.string());
  InputList list;
  std::vector<std::string> label_texts;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::string path = line, label;
    const size_t comma = line.rfind(',');
    if (comma != std::string::npos) {
      path = trim(line.substr(0, comma));
      label = trim(line.substr(comma + 1));
    }
    if (list.items.empty() && label_texts.empty() && path == "path" && label == "label") continue;
    if (path.empty())
      throw InputError(list_path.string() + ":" + std::to_string(line_no) + ": empty path");
    fs::path resolved = path;
    if (resolved.is_relative()) resolved = list_path.parent_path() / resolved;
    list.items.push_back({resolved, path, kNoLabel});
    label_texts.push_back(label);
  }
  const bool any = std::any_of(label_texts.begin(), label_texts.end(),
                               [](const std::string& s) { return !s.empty(); });
  if (!any) return list;
  list.has_labels = true;
  bool all_int = true;
  for (size_t i = 0; i < label_texts.size(); ++i) {
    int64_t v;
    if (label_texts[i].empty() || !parse_int(label_texts[i], v) || v < 0) all_int = false;
  }
  if (all_int) {
    for (size_t i = 0; i < label_texts.size(); ++i) parse_int(label_texts[i], list.items[i].label);
    return list;
  }
  std::set<std::string> names(label_texts.begin(), label_texts.end());
  names.erase("");
  list.classes.assign(names.begin(), names.end());
  for (size_t i = 0; i < label_texts.size(); ++i) {
    if (label_texts[i].empty()) continue;
    list.items[i].label =
        std::lower_bound(list.classes.begin(), list.classes.end(), label_texts[i]) -
        list.classes.begin();
  }
  return list;
}

}  // namespace

InputList list_inputs(const fs::path& input, const ShardSpec& shard) {
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
    throw InputError("--shard K/N needs 0 <= K < N");
  std::error_code ec;
  const fs::file_status status = fs::status(input, ec);
  if (ec || !fs::exists(status)) throw InputError("INPUT does not exist: " + input.string());
  InputList list;
  if (fs::is_directory(status))
    list = list_folder(input);
  else if (fs::is_regular_file(status))
    list = list_file(input);
  else
    throw InputError("INPUT is neither a folder nor a list file: " + input.string());

  if (shard.count > 1) {
    const size_t n = list.items.size();
    const size_t begin = n * shard.index / shard.count;
    const size_t end = n * (shard.index + 1) / shard.count;
    list.items = std::vector<InputItem>(list.items.begin() + begin, list.items.begin() + end);
  }
  return list;
}

}  // namespace imgprep

#include "imgprep/datasets/input_list.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "imgprep/codecs/image_format.h"

namespace imgprep {
namespace fs = std::filesystem;
namespace {

bool sniffs_as_image(const fs::path& path) {
  return sniff_file(path).value_or(ImageFormat::unknown) != ImageFormat::unknown;
}

// A folder, as the file system identifies it whatever the path to it.
using FolderId = std::pair<dev_t, ino_t>;

class FolderWalk {
 public:
  // excluded: a folder left out wherever the walk meets it (through symlinks too).
  FolderWalk(InputList& out, std::optional<FolderId> excluded) : out_(out), excluded_(excluded) {}

  void walk(const fs::path& dir, const std::string& rel) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) {
      out_.walk_errors.push_back("cannot open folder " + dir.string());
      return;
    }
    if (excluded_ == FolderId{st.st_dev, st.st_ino}) return;
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
  std::optional<FolderId> excluded_;
  std::set<FolderId> visited_;  // folders on the current path, for loops
};

// --classes: the file and its names in label order. Without one (no file) class names are
// numbered in sorted order.
struct ClassOrder {
  fs::path file;
  std::vector<std::string> names;
};

// Why classes that --classes does not name refuse the run: a partial data set whose missing
// classes nobody notices is worse than no run. The first few names, and how many.
std::string unknown_classes(const std::vector<std::string>& unknown, const fs::path& file) {
  constexpr size_t kShown = 5;
  std::string text = std::to_string(unknown.size()) +
                     (unknown.size() == 1 ? " class is" : " classes are") + " not in --classes " +
                     file.string() + ":";
  for (size_t i = 0; i < unknown.size() && i < kShown; ++i)
    text += (i == 0 ? " '" : ", '") + unknown[i] + "'";
  if (unknown.size() > kShown) text += " and " + std::to_string(unknown.size() - kShown) + " more";
  return text;
}

// The label of each class name the inputs have: its place in --classes, or in sorted order;
// list.classes becomes the label -> name table.
std::map<std::string, int64_t> number_classes(const std::set<std::string>& names,
                                              const ClassOrder& order, InputList& list) {
  list.classes = order.file.empty() ? std::vector<std::string>(names.begin(), names.end())
                                    : order.names;
  std::map<std::string, int64_t> label;
  for (size_t i = 0; i < list.classes.size(); ++i)
    label.emplace(list.classes[i], static_cast<int64_t>(i));
  std::vector<std::string> unknown;
  for (const std::string& name : names)
    if (label.count(name) == 0) unknown.push_back(name);
  if (!unknown.empty()) throw InputError(unknown_classes(unknown, order.file));
  return label;
}

void label_by_first_level_folder(InputList& list, const ClassOrder& order) {
  std::set<std::string> names;
  for (const InputItem& item : list.items) {
    const size_t slash = item.rel.find('/');
    if (slash != std::string::npos) names.insert(item.rel.substr(0, slash));
  }
  if (names.empty()) return;
  const std::map<std::string, int64_t> label = number_classes(names, order, list);
  for (InputItem& item : list.items) {
    const size_t slash = item.rel.find('/');
    if (slash != std::string::npos) item.label = label.at(item.rel.substr(0, slash));
  }
  list.has_labels = true;
}

InputList list_folder(const fs::path& root, const fs::path& exclude, const ClassOrder& order) {
  std::optional<FolderId> excluded;
  struct stat st;
  if (!exclude.empty() && ::stat(exclude.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    excluded = FolderId{st.st_dev, st.st_ino};
  InputList list;
  FolderWalk(list, excluded).walk(root, "");
  std::sort(list.items.begin(), list.items.end(),
            [](const InputItem& a, const InputItem& b) { return a.rel < b.rel; });
  label_by_first_level_folder(list, order);
  return list;
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One data line of a list file.
struct ListLine {
  int number = 0;     // 1-based, for messages
  std::string path;
  std::string label;  // as written; empty when the line has none
};

// "FILE:LINE: ", the start of every message about one line of a list file.
std::string where(const fs::path& list_path, int line_no) {
  return list_path.string() + ":" + std::to_string(line_no) + ": ";
}

// The field in double quotes that starts at line[pos], without its quotes ("" inside it is one
// quote); pos moves past the closing quote.
std::string quoted_field(const std::string& line, size_t& pos, const std::string& at) {
  std::string field;
  for (++pos; pos < line.size(); ++pos) {
    if (line[pos] != '"') {
      field += line[pos];
    } else if (pos + 1 < line.size() && line[pos + 1] == '"') {
      field += '"';
      ++pos;
    } else {
      ++pos;
      return field;
    }
  }
  throw InputError(at + "a quoted field has no closing quote");
}

// CSV fields: split at commas outside double quotes; unquoted fields are trimmed, quoted ones
// kept as written.
std::vector<std::string> csv_fields(const std::string& line, const std::string& at) {
  std::vector<std::string> fields;
  size_t pos = 0;
  for (;;) {
    while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
    if (pos < line.size() && line[pos] == '"') {
      fields.push_back(quoted_field(line, pos, at));
      while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos]))) ++pos;
      if (pos < line.size() && line[pos] != ',')
        throw InputError(at + "unexpected text after a quoted field");
    } else {
      const size_t start = pos;
      pos = std::min(line.find(',', pos), line.size());
      fields.push_back(trim(line.substr(start, pos - start)));
    }
    if (pos == line.size()) return fields;
    ++pos;  // past the comma
  }
}

// Without quotes, a line splits at its last comma, so paths may hold commas; with them it is
// read as CSV, where a path that holds a comma must be quoted.
ListLine split_line(const std::string& line, int line_no, const std::string& at) {
  if (line.find('"') == std::string::npos) {
    const size_t comma = line.rfind(',');
    if (comma == std::string::npos) return {line_no, line, ""};
    return {line_no, trim(line.substr(0, comma)), trim(line.substr(comma + 1))};
  }
  const std::vector<std::string> fields = csv_fields(line, at);
  if (fields.size() > 2)
    throw InputError(at + "expected path or path,label, got " + std::to_string(fields.size()) +
                     " fields (put a path that holds a comma in double quotes)");
  return {line_no, fields[0], fields.size() == 2 ? fields[1] : ""};
}

// The data lines: blank lines, '#' comments and a "path,label" header (in any case) left out.
std::vector<ListLine> read_list_lines(const fs::path& list_path) {
  std::ifstream in(list_path, std::ios::binary);
  if (!in) throw InputError("cannot read list file " + list_path.string());
  std::vector<ListLine> lines;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    const std::string at = where(list_path, line_no);
    if (line_no == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
    if (line.find('\0') != std::string::npos)
      throw InputError(at + "the line holds a NUL byte; list files are UTF-8 text");
    line = trim(line);  // also drops the \r of CRLF line endings
    if (line.empty() || line[0] == '#') continue;
    ListLine parsed = split_line(line, line_no, at);
    if (lines.empty() && lower(parsed.path) == "path" && lower(parsed.label) == "label") continue;
    if (parsed.path.empty()) throw InputError(at + "empty path");
    lines.push_back(std::move(parsed));
  }
  return lines;
}

enum class LabelKind { none, integer, name };

// An integer label (its value in `value`), a class name, or none: no text, or -1. Throws for
// integers no label can be.
LabelKind label_kind(const std::string& text, int64_t& value, const std::string& at) {
  if (text.empty()) return LabelKind::none;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size()) return LabelKind::name;
  if (ec == std::errc::result_out_of_range)
    throw InputError(at + "label '" + text + "' is out of range");
  if (value == kNoLabel) return LabelKind::none;
  if (value < 0)
    throw InputError(at + "label '" + text + "' is negative (-1 is the only one: no label)");
  return LabelKind::integer;
}

// Why a label column with both integers and class names is refused, said at the first line of
// the fewer kind (likely a typo, or a header).
std::string mixed_labels(const std::vector<ListLine>& lines, const std::vector<size_t>& ints,
                         const std::vector<size_t>& names, const fs::path& list_path) {
  const bool odd_name = names.size() <= ints.size();
  const ListLine& odd = lines[odd_name ? names[0] : ints[0]];
  const ListLine& other = lines[odd_name ? ints[0] : names[0]];
  const size_t more = (odd_name ? ints.size() : names.size()) - 1;
  std::string text = where(list_path, odd.number) + "label '" + odd.label + "' is " +
                     (odd_name ? "not an integer" : "an integer") + ", but line " +
                     std::to_string(other.number) + "'s label '" + other.label + "' is" +
                     (odd_name ? "" : " a class name");
  if (more > 0) text += " (as are " + std::to_string(more) + " more)";
  text += "; labels are all integers (-1: no label) or all class names";
  if (&odd == &lines[0]) text += "; the only header is path,label";
  return text;
}

// Integer labels are kept as written; class names are numbered in sorted order or as --classes
// orders them. A column with both is refused rather than guessed at, and so are integers with
// --classes, which would leave them as written while the user expects them mapped.
void assign_labels(InputList& list, const std::vector<ListLine>& lines,
                   const fs::path& list_path, const ClassOrder& order) {
  std::vector<size_t> of_kind[3];
  for (size_t i = 0; i < lines.size(); ++i) {
    const LabelKind kind =
        label_kind(lines[i].label, list.items[i].label, where(list_path, lines[i].number));
    of_kind[static_cast<int>(kind)].push_back(i);
    if (kind != LabelKind::integer) list.items[i].label = kNoLabel;
  }
  const std::vector<size_t>& ints = of_kind[static_cast<int>(LabelKind::integer)];
  const std::vector<size_t>& names = of_kind[static_cast<int>(LabelKind::name)];
  list.has_labels = std::any_of(lines.begin(), lines.end(),
                                [](const ListLine& line) { return !line.label.empty(); });
  if (!ints.empty() && !names.empty())
    throw InputError(mixed_labels(lines, ints, names, list_path));
  if (!ints.empty() && !order.file.empty())
    throw InputError(where(list_path, lines[ints[0]].number) + "label '" +
                     lines[ints[0]].label + "' is an integer; --classes " + order.file.string() +
                     " numbers class names, and integer labels are kept as written");
  if (names.empty()) return;
  std::set<std::string> distinct;
  for (size_t i : names) distinct.insert(lines[i].label);
  const std::map<std::string, int64_t> label = number_classes(distinct, order, list);
  for (size_t i : names) list.items[i].label = label.at(lines[i].label);
}

InputList list_file(const fs::path& list_path, const ClassOrder& order) {
  if (sniffs_as_image(list_path))
    throw InputError("INPUT is an image, not a folder or a list file: " + list_path.string());
  const std::vector<ListLine> lines = read_list_lines(list_path);
  InputList list;
  for (const ListLine& line : lines) {
    fs::path resolved = line.path;
    if (resolved.is_relative()) resolved = list_path.parent_path() / resolved;
    list.items.push_back({resolved, line.path, kNoLabel});
  }
  assign_labels(list, lines, list_path, order);
  return list;
}

// A classes.json: a JSON array of strings.
std::vector<std::string> class_names_from_json(const std::string& text, const fs::path& file) {
  const nlohmann::json names = nlohmann::json::parse(text, nullptr, false);
  if (names.is_discarded() || !names.is_array())
    throw InputError(file.string() + ": starts with '[' but is not a JSON array of class names");
  std::vector<std::string> out;
  for (const nlohmann::json& name : names) {
    if (!name.is_string())
      throw InputError(file.string() + ": entry " + std::to_string(out.size() + 1) +
                       " is not a string; expected a JSON array of class names");
    out.push_back(name.get<std::string>());
  }
  return out;
}

}  // namespace

std::string no_images_in(const fs::path& input) { return "no images in " + input.string(); }

std::vector<std::string> read_class_names(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot read --classes file " + file.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM
  if (text.find('\0') != std::string::npos)
    throw InputError(file.string() + ": holds a NUL byte; --classes files are UTF-8 text");
  std::vector<std::string> names;
  if (trim(text).rfind('[', 0) == 0) {
    names = class_names_from_json(text, file);
  } else {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      if (!(line = trim(line)).empty()) names.push_back(line);  // trim drops CRLF's \r
  }
  if (names.empty()) throw InputError(file.string() + ": names no classes");
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (name.empty()) throw InputError(file.string() + ": a class name is empty");
    if (!seen.insert(name).second)
      throw InputError(file.string() + ": class '" + name + "' is named twice");
  }
  return names;
}

InputList list_inputs(const fs::path& input, const InputSlice& slice, const fs::path& exclude,
                      const fs::path& classes_file) {
  if (slice.count < 1 || slice.index < 0 || slice.index >= slice.count)
    throw InputError("--shard K/N needs 0 <= K < N");
  std::error_code ec;
  const fs::file_status status = fs::status(input, ec);
  if (ec || !fs::exists(status)) throw InputError("INPUT does not exist: " + input.string());
  ClassOrder order{classes_file, {}};
  if (!classes_file.empty()) order.names = read_class_names(classes_file);
  InputList list;
  if (fs::is_directory(status))
    list = list_folder(input, exclude, order);
  else if (fs::is_regular_file(status))
    list = list_file(input, order);
  else
    throw InputError("INPUT is neither a folder nor a list file: " + input.string());
  if (list.items.empty()) throw InputError(no_images_in(input));
  if (!order.file.empty()) list.classes = order.names;  // all of them, whichever the inputs use

  for (size_t i = 0; i < list.items.size(); ++i) list.items[i].key = i;
  list.unsliced = list.items.size();
  list.unsliced_fingerprint = inputs_fingerprint(list.items);
  if (slice.count > 1) {
    // A part's image files are named as the whole run names them (a name two inputs share
    // is told apart by position in the whole list).
    list.unsliced_rels.reserve(list.items.size());
    for (const InputItem& item : list.items) list.unsliced_rels.push_back(item.rel);
    const size_t n = list.items.size();
    const size_t begin = n * slice.index / slice.count;
    const size_t end = n * (slice.index + 1) / slice.count;
    list.items = std::vector<InputItem>(list.items.begin() + begin, list.items.begin() + end);
    list.first = begin;
  }
  return list;
}

std::string inputs_fingerprint(const std::vector<InputItem>& items) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  auto mix = [&hash](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
    hash = (hash ^ 0xff) * 1099511628211ull;
  };
  for (const InputItem& item : items) {
    mix(item.rel);
    mix(std::to_string(item.label));
  }
  char fingerprint[17];
  std::snprintf(fingerprint, sizeof fingerprint, "%016llx", static_cast<unsigned long long>(hash));
  return fingerprint;
}

}  // namespace imgprep

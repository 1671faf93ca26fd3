#include "imgprep/outputs/resume_check.h"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <string>

#include "imgprep/core/json_text.h"

namespace imgprep {
namespace fs = std::filesystem;

// What a run's outputs depend on: the output settings and the ordered inputs (a fingerprint
// of their paths and labels). --resume requires both unchanged.
nlohmann::ordered_json run_identity(const Options& o, const InputList& inputs) {
  return {{"settings", output_settings(o)},
          {"inputs",
           {{"count", inputs.items.size()}, {"fingerprint", inputs_fingerprint(inputs.items)}}}};
}

namespace {

// JSON's kinds of value, as a message names them.
const char* kind_of(const nlohmann::json& value) {
  return value.is_number() ? "a number" : value.is_string() ? "a string"
         : value.is_boolean() ? "true or false" : value.is_array() ? "a list"
         : value.is_object() ? "an object" : "null";
}

// Whether `then` (read from a file) has the kinds of value `now` has: numbers of any sort match
// each other, lists match element by element, objects key by key.
bool same_kinds(const nlohmann::json& then, const nlohmann::json& now) {
  if (then.is_number() || now.is_number()) return then.is_number() && now.is_number();
  if (then.type() != now.type()) return false;
  if (now.is_array()) {
    if (then.size() != now.size()) return false;
    for (size_t i = 0; i < now.size(); ++i)
      if (!same_kinds(then[i], now[i])) return false;
  }
  if (now.is_object())
    for (const auto& [key, value] : now.items())
      if (!then.contains(key) || !same_kinds(then[key], value)) return false;
  return true;
}

}  // namespace

// OUT/meta.json of the run to resume, with everything check_same_run and the resume read in the
// shape imgprep writes it: a hand-edited or foreign file is refused saying what is wrong, and
// no library exception reaches the user.
nlohmann::json read_meta(const fs::path& out) {
  const fs::path path = out / "meta.json";
  std::ifstream in(path);
  if (!in) throw UsageError("--resume: OUT has no meta.json from an earlier run");
  const nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
  const std::string refused = "--resume: " + path.string() + " ";
  if (meta.is_discarded()) throw UsageError(refused + "is not JSON");
  if (!meta.is_object()) throw UsageError(refused + "is not a JSON object");
  // What this imgprep writes, with any settings and inputs (only the kinds of values matter).
  const nlohmann::json expected = {{"settings", output_settings(Options{})},
                                   {"inputs", {{"count", 0}, {"fingerprint", ""}}}};
  const auto identity = meta.find("identity");
  if (identity == meta.end()) throw UsageError(refused + "has no \"identity\"; is it imgprep's?");
  if (!identity->is_object())
    throw UsageError(refused + "has " + kind_of(*identity) + " for \"identity\", not an object");
  for (const auto& [part, shape] : expected.items())
    for (const auto& [key, value] : shape.items()) {
      const std::string name = "\"identity\".\"" + part + "\".\"" + key + "\"";
      if (!identity->contains(part) || !(*identity)[part].is_object() ||
          !(*identity)[part].contains(key))
        throw UsageError(refused + "has no " + name + " (made by another version of imgprep?)");
      const nlohmann::json& then = (*identity)[part][key];
      if (!same_kinds(then, value))
        throw UsageError(refused + "has " + kind_of(then) + " for " + name + ", where imgprep " +
                         "writes " + (value.is_array() ? "a list of " + std::to_string(value.size()) +
                                                             " numbers"
                                                       : std::string(kind_of(value))) +
                         " (made by another version of imgprep?)");
    }
  if (meta.contains("complete") && !meta["complete"].is_boolean())
    throw UsageError(refused + "has " + kind_of(meta["complete"]) + " for \"complete\", not " +
                     "true or false");
  if (meta.contains("failed") && !meta["failed"].is_number_integer())
    throw UsageError(refused + "has " + kind_of(meta["failed"]) + " for \"failed\", not a " +
                     "whole number");
  return meta;
}

namespace {

// The command-line flag of a setting of output_settings: its key with dashes.
std::string flag_of(const std::string& key) {
  std::string flag = "--" + key;
  for (char& c : flag)
    if (c == '_') c = '-';
  return flag;
}

// A setting's value as the command line writes it. The fractional ones (--scale, --mean, --std)
// are floats: the shortest text that reads back as the same float.
std::string flag_value(const nlohmann::json& value) {
  if (value.is_boolean()) return value.get<bool>() ? "on" : "off";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    char text[32];
    return {text, std::to_chars(text, text + sizeof text, value.get<float>()).ptr};
  }
  if (!value.is_array()) return json_text(value);
  std::string values;
  for (const nlohmann::json& v : value) {
    if (!values.empty()) values += ',';
    values += flag_value(v);
  }
  return values;
}

}  // namespace

std::string setting_as_given(const std::string& key, const nlohmann::json& value) {
  if (key == "input" && value.is_string()) return "INPUT " + value.get<std::string>();
  if (key == "exif" && value.is_boolean())
    return value.get<bool>() ? "EXIF orientation applied" : flag_of("no_" + key);
  return flag_of(key) + " " + flag_value(value);
}

// Throws UsageError saying what differs, as the command line says it. meta is as read_meta
// returns it.
void check_same_run(const nlohmann::json& meta, const nlohmann::ordered_json& identity) {
  const nlohmann::json& then = meta["identity"];
  const nlohmann::json now = identity;
  const std::string how = ", or run without --resume to start over";
  for (const auto& [key, value] : now["settings"].items()) {
    const nlohmann::json& was = then["settings"][key];
    if (was == value) continue;
    if (key == "input")
      throw UsageError("--resume: OUT was made from INPUT " + was.get<std::string>() + ", not " +
                       value.get<std::string>() + how);
    // On unless --no-exif turns it off.
    if (key == "exif")
      throw UsageError("--resume: OUT was made " + std::string(was.get<bool>() ? "without " : "with ") +
                       flag_of("no_" + key) + "; " + (was.get<bool>() ? "leave it out" : "add it") + how);
    throw UsageError("--resume: OUT was made with " + flag_of(key) + " " + flag_value(was) +
                     ", not " + flag_value(value) + "; use the same value" + how);
  }
  const nlohmann::json &inputs_then = then["inputs"], &inputs_now = now["inputs"];
  if (inputs_then["count"] != inputs_now["count"])
    throw UsageError("--resume: INPUT now has " + json_text(inputs_now["count"]) +
                     " inputs, the interrupted run had " + json_text(inputs_then["count"]) + how);
  if (inputs_then != inputs_now)
    throw UsageError("--resume: the paths or labels of the inputs differ from the interrupted "
                     "run's (fingerprint " + inputs_now["fingerprint"].get<std::string>() +
                     " now, " + inputs_then["fingerprint"].get<std::string>() + " then)" + how);
}

}  // namespace imgprep

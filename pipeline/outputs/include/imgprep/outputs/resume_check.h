// --resume's checks: what a run's outputs depend on (its identity in OUT/meta.json), reading the
// meta.json of the run to resume, and refusing a resume whose settings or inputs differ.
#pragma once

#include <filesystem>
#include <string>
#include <nlohmann/json.hpp>

#include "imgprep/core/options.h"
#include "imgprep/datasets/input_list.h"

namespace imgprep {

// What a run's outputs depend on: the output settings and the ordered inputs (a fingerprint
// of their paths and labels). --resume requires both unchanged.
nlohmann::ordered_json run_identity(const Options& o, const InputList& inputs);

// OUT/meta.json of the run to resume, with everything check_same_run and the resume read in the
// shape imgprep writes it: a hand-edited or foreign file is refused saying what is wrong, and
// no library exception reaches the user.
nlohmann::json read_meta(const std::filesystem::path& out);

// Throws UsageError saying what differs, as the command line says it. meta is as read_meta
// returns it.
void check_same_run(const nlohmann::json& meta, const nlohmann::ordered_json& identity);

// A setting of output_settings as the command line gives it: "--resize shorter:256",
// "--no-exif", "INPUT photos".
std::string setting_as_given(const std::string& key, const nlohmann::json& value);

}  // namespace imgprep

// How `imgprep bench` shows its results: progress lines while it runs, the table at the end,
// and an SVG bar chart (throughput per tier, the ceiling as a line). Input: the bench's JSON
// report (see bench_command.cpp for its fields).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace imgprep {

void print_header(const nlohmann::ordered_json& report, std::ostream& out);
// The inputs a tier's every run went through (ok + failed; the ceiling may use only those that
// fit its preload budget).
double images_in(const nlohmann::ordered_json& tier);
void print_progress(const nlohmann::ordered_json& tier, std::ostream& out);
void print_table(const nlohmann::ordered_json& report, std::ostream& out);
std::string bar_chart_svg(const nlohmann::ordered_json& report);

}  // namespace imgprep

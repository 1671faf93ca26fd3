// The `run` options on the command line (which `bench` shares), and how they become Options:
// defaults, then the preset, then every flag given explicitly.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "imgprep/core/options.h"

namespace imgprep {

class RunOptionsParser {
 public:
  enum class For { run, bench };
  // Adds INPUT and every preprocessing and parallelism option to `command`; for run also
  // -o/--output, the engine choice, --shard-size, --max-errors and --resume.
  RunOptionsParser(CLI::App& command, For use);
  // After parsing: the resolved options. Throws UsageError, also for an option given
  // explicitly that the chosen output or engine does not use.
  Options resolve() const;

 private:
  template <class T>
  void add(const std::string& name, const std::string& help,
           std::function<void(Options&, const T&)> apply);
  void add_flag(const std::string& name, const std::string& help,
                std::function<void(Options&)> apply);
  void refuse_inapplicable(const Options& options) const;

  CLI::App& command_;
  std::string group_ = "Inputs";  // the help's group of the options added next
  For use_;
  std::string input_, output_, preset_;
  // Each given option applies itself to Options after the preset.
  std::vector<std::function<void(Options&)>> appliers_;
};

}  // namespace imgprep

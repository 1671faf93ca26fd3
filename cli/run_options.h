// The `run` options on the command line (which `bench` shares): one CLI11 option per setting of
// the library (imgprep.h's settings()), resolved by resolve_config.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "imgprep/imgprep.h"

namespace imgprep {

class RunOptionsParser {
 public:
  // Adds INPUT and every setting of `use` to `command`, and for run -o/--output.
  RunOptionsParser(CLI::App& command, ConfigFor use);
  // After parsing: the resolved options. Throws UsageError.
  Options resolve() const;

 private:
  struct Given {
    const Setting* setting;
    const CLI::Option* option;
    std::string value;  // a flag's stays empty
  };

  ConfigFor use_;
  std::string input_, output_, preset_;
  // Stable addresses: CLI11 writes each value into its Given.
  std::vector<std::unique_ptr<Given>> options_;
};

}  // namespace imgprep

// `imgprep run`: lists the inputs, runs the engine, writes the outputs and the summary.
#pragma once

#include <functional>
#include <iosfwd>

#include "imgprep/core/options.h"

namespace imgprep {

inline constexpr int kExitOk = 0;
inline constexpr int kExitSomeFailed = 1;
inline constexpr int kExitUsage = 2;

// Returns the exit code: 0 all inputs succeeded, 1 some failed (or --max-errors stopped the run),
// 2 unusable options, INPUT or OUT (a one-line reason goes to err). The summary goes to out.
int run_command(const Options& options, std::ostream& out, std::ostream& err);

// Returns command()'s exit code; an error that ends a command (bad options, an unusable INPUT or
// OUT, a worker or GPU failure) becomes its one-line reason on err and kExitUsage.
int exit_code_of(std::ostream& err, const std::function<int()>& command);

}  // namespace imgprep

// --dry-run: what a run would process and write, from the input list alone. Nothing is decoded
// and OUT is neither created nor touched.
#pragma once

#include <ostream>
#include <string>

#include "imgprep/datasets/input_list.h"
#include "imgprep/core/options.h"

namespace imgprep {

// Prints, as plain text: the inputs by format (sniffed from their first bytes, as the folder
// walk does) and by class, what the walk skipped and why, the --shard slice, and the output
// files with their estimated size. engine: the engine line a run would print. Returns 0.
int dry_run(const Options& options, const InputList& inputs, const std::string& engine,
            std::ostream& out);

}  // namespace imgprep

// --dry-run: what a run would process and write, from the input list alone. Nothing is decoded
// and OUT is neither created nor touched.
#pragma once

#include <ostream>

#include "imgprep/core/options.h"

namespace imgprep {

// Plans the job (imgprep.h's plan_job: the options checked, the engine chosen, the inputs
// listed) and prints, as plain text: the engine line, the inputs by format (sniffed from their
// first bytes, as the folder walk does) and by class, what the walk skipped and why, the --shard
// slice, and the output files with their estimated size. Returns 0; throws what plan_job throws.
int dry_run(const Options& options, std::ostream& out);

}  // namespace imgprep

// One tier of `imgprep bench`, measured in the process that calls it (a child of the bench):
// warm-up runs (the first checks the output), timed runs, per-stage busy time and queue
// lengths, page-cache state, and the tier's verdict. Returns the tier's JSON record.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "imgprep/datasets/input_list.h"
#include "imgprep/commands/bench.h"

namespace imgprep {

nlohmann::ordered_json measure_tier(Tier tier, const Options& options, const BenchOptions& bench,
                                    const std::vector<InputItem>& items);

}  // namespace imgprep

// The output tensor a run's options ask for.
#pragma once

#include "imgprep/kernels/output_spec.h"
#include "imgprep/core/options.h"

namespace imgprep {

// width/height are left 0 when the output size varies per image.
OutputSpec make_output_spec(const ProcessingOptions& options);

}  // namespace imgprep

// The CPU executor of a ResizePlan: resamples an RGBX image and writes the normalised tensor.
// One Resampler per thread (it keeps a scratch buffer between calls).
#pragma once

#include <vector>

#include "imgprep/kernels/resample_plan.h"
#include "imgprep/pipeline/decoder.h"
#include "imgprep/pipeline/output_spec.h"

namespace imgprep {

class Resampler {
 public:
  // dst receives spec.bytes() bytes; spec.width/height must equal the plan's output size.
  void run(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec, void* dst);

 private:
  std::vector<float> rows_;  // horizontally resampled rows, RGBX floats
};

}  // namespace imgprep

// The CPU executor of a ResizePlan: resamples an RGBX image and writes the normalised tensor.
// One Resampler per thread (it keeps scratch buffers between calls).
#pragma once

#include <cstdint>
#include <vector>

#include "imgprep/kernels/resample_plan.h"
#include "imgprep/pipeline/bytes.h"
#include "imgprep/pipeline/decoder.h"
#include "imgprep/pipeline/output_spec.h"

namespace imgprep {

class Resampler {
 public:
  // dst receives spec.bytes() bytes; spec.width/height must equal the plan's output size.
  void run(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec, void* dst);

  // Scratch, reused between calls.
  struct Buffers {
    Buffer<float> row;      // one source row as RGBX floats
    Buffer<float> rows;     // horizontally resampled rows, RGBX floats
    Buffer<float> out_row;  // one vertically resampled, 8-bit-rounded output row
    std::vector<int> ties;         // columns of a row whose rounding needs the exact sum
    std::vector<float> weights_x;  // plan.x weights, each repeated in four lanes
    std::vector<float> weights_y;  // one row's plan.y weights, likewise
    // Output bytes of each 8-bit value per channel (normalisation and dtype conversion done
    // once per spec): [3][256] elements of the output dtype.
    std::vector<uint8_t> values;
    OutputSpec values_for{};
  };

 private:
  Buffers buffers_;
};

}  // namespace imgprep

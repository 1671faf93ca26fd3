// The CPU executor of a ResizePlan: resamples an RGBX image and writes the normalised tensor.
// One Resampler per thread (it keeps scratch buffers between calls).
#pragma once

#include <cstdint>
#include <vector>

#include "imgprep/kernels/resample_plan.h"
#include "imgprep/codecs/bytes.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/kernels/output_spec.h"

namespace imgprep {

class Resampler {
 public:
  // dst receives spec.bytes() bytes; spec.width/height must equal the plan's output size.
  void run(const DecodedImage& src, const ResizePlan& plan, const OutputSpec& spec, void* dst);

  // Scratch, reused between calls.
  struct Buffers {
    // Float path (any plan):
    Buffer<float> row;             // one source row as RGBX floats
    Buffer<float> rows;            // horizontally resampled rows, RGBX floats
    std::vector<int> ties;         // columns of a row whose rounding needs the exact sum
    std::vector<float> weights_x;  // plan.x weights, each repeated in four lanes
    std::vector<float> weights_y;  // one row's plan.y weights, likewise
    // Integer path (Pillow's rounding, on AVX2):
    Bytes rows8;                   // horizontally resampled rows, RGBX bytes
    std::vector<int> starts_x;     // plan.x starts, 0 for pad columns
    std::vector<int32_t> fixed_x;  // plan.x fixed-point weights, each repeated in four lanes
    // Both: one vertically resampled output row, RGBX bytes.
    Bytes out_row;
    // Output bytes of each 8-bit value per channel (normalisation and dtype conversion done
    // once per spec): [3][256] elements of the output dtype.
    std::vector<uint8_t> values;
    OutputSpec values_for{};
  };

 private:
  Buffers buffers_;
};

}  // namespace imgprep

// The tensor each image becomes: size, channel order, normalisation, layout and dtype.
#pragma once

#include <cstddef>

#include "imgprep/kernels/pixel_math.h"
#include "imgprep/pipeline/options.h"

namespace imgprep {

struct OutputSpec {
  int width = 0, height = 0;
  Layout layout = Layout::nchw;
  DType dtype = DType::float32;
  bool bgr = false;
  Normalization norm{};  // in output channel order
  float pad_value = 0;   // 0..255, before normalisation

  static constexpr int kChannels = 3;
  size_t element_size() const { return dtype == DType::float32 ? 4 : dtype == DType::float16 ? 2 : 1; }
  size_t bytes() const { return static_cast<size_t>(width) * height * kChannels * element_size(); }
};

// width/height are left 0 when the output size varies per image.
OutputSpec make_output_spec(const Options& options);

}  // namespace imgprep

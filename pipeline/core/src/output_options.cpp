#include "imgprep/core/output_options.h"

#include <tuple>

namespace imgprep {

OutputSpec make_output_spec(const ProcessingOptions& o) {
  OutputSpec spec;
  std::tie(spec.width, spec.height) = o.fixed_output_size();
  spec.layout = o.layout;
  spec.dtype = o.dtype;
  spec.bgr = o.bgr;
  spec.pad_value = static_cast<float>(o.pad_value);
  for (int c = 0; c < OutputSpec::kChannels; ++c) {
    const int rgb = o.bgr ? 2 - c : c;  // --scale/--mean/--std are given in R,G,B order
    spec.norm.scale[c] = o.scale[rgb];
    spec.norm.mean[c] = o.mean[rgb];
    spec.norm.std[c] = o.std[rgb];
  }
  return spec;
}

}  // namespace imgprep

#include "imgprep/core/output_options.h"

namespace imgprep {

OutputSpec make_output_spec(const ProcessingOptions& o) {
  OutputSpec spec;
  if (has_fixed_output_size(o.resize, o.crop)) {
    const Placement p = place(1, 1, o.resize, o.crop);
    spec.width = p.out_w;
    spec.height = p.out_h;
  }
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

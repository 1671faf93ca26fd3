// What a whole job and a stream both do before their engine starts. Private to api/.
#pragma once

#include <vector>

#include "imgprep/imgprep.h"

namespace imgprep {

// --engine auto takes the GPU when this build and machine have a usable one; --engine gpu
// without one throws UsageError with the probe's reason.
EngineChoice choose_engine(const Options& options);

// Without OpenCV's codecs, image files out or inputs of its formats would fail image by image:
// this throws instead. (A file of such a format under another extension is found out only when
// it is decoded.)
void require_codecs_for(const Options& options, const std::vector<InputItem>& inputs);

}  // namespace imgprep

#include "imgprep/core/run_stats.h"

namespace imgprep {

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::read: return "read";
    case Stage::decode: return "decode";
    case Stage::transform: return "transform";
    case Stage::write: return "write";
    case Stage::count: break;
  }
  return "?";
}

}  // namespace imgprep

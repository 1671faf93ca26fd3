#include "imgprep/kernels/upright.h"

#include <algorithm>

namespace imgprep {

PixelRect stored_rect(int orientation, int width, int height, const PixelRect& window) {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  stored_point(orientation, width, height, window.x, window.y, x0, y0);
  stored_point(orientation, width, height, window.x + window.width - 1,
               window.y + window.height - 1, x1, y1);
  const int left = std::min(x0, x1), top = std::min(y0, y1);
  return {left, top, std::max(x0, x1) - left + 1, std::max(y0, y1) - top + 1};
}

void upright_on_host(const UprightView& view) {
  for (int i = 0; i < view.count; ++i) {
    const UprightImage& im = view.images[i];
    for (int v = 0; v < im.dst_h; ++v)
      for (int u = 0; u < im.dst_w; ++u) upright_pixel(im, view, u, v);
  }
}

}  // namespace imgprep

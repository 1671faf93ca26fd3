#include "imgprep/kernels/resample_plan.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace imgprep {
namespace {

// A window of weights over consecutive source pixels, for one resized position.
struct Window {
  int first = 0;
  std::vector<double> w;
};

// ---- Pillow (libImaging/Resample.c, precompute_coeffs) ----

double pil_box(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
double pil_triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
double pil_bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= std::numbers::pi;
  return std::sin(x) / x;
}
double pil_lanczos(double x) { return (x > -3.0 && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

// Image.NEAREST samples the source pixel under the output pixel's centre. Pillow walks the
// centres by adding the scale once per pixel (ImagingScaleAffine), and its sums can land just
// below an integer where the product would not, so positions are accumulated the same way.
// Returns the positions of resized pixels [first, last) only: the resized size of a thin image
// can run to billions while the crop keeps a few hundred.
std::vector<int> pillow_nearest_positions(int in_size, double scale, int first, int last) {
  std::vector<int> positions(std::max(last - first, 0));
  double pos = scale * 0.5;
  for (int u = 0; u < last; ++u, pos += scale)
    if (u >= first) positions[u - first] = std::clamp(static_cast<int>(pos), 0, in_size - 1);
  return positions;
}

Window pillow_window(int in_size, double scale, int u, Interp interp) {
  Window win;
  double (*filter)(double) = pil_triangle;
  double support = 1.0;
  switch (interp) {
    case Interp::area: filter = pil_box; support = 0.5; break;
    case Interp::cubic: filter = pil_bicubic; support = 2.0; break;
    case Interp::lanczos: filter = pil_lanczos; support = 3.0; break;
    default: break;
  }
  const double filterscale = std::max(scale, 1.0);
  support *= filterscale;
  const double center = (u + 0.5) * scale;
  const double ss = 1.0 / filterscale;
  // Pillow truncates toward zero with a C cast before clamping.
  const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
  const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size);
  win.first = xmin;
  double sum = 0.0;
  for (int x = xmin; x < xmax; ++x) {
    const double w = filter((x - center + 0.5) * ss);
    win.w.push_back(w);
    sum += w;
  }
  if (sum != 0.0)
    for (double& w : win.w) w /= sum;
  if (win.w.empty()) win.w = {0.0};
  return win;
}

// ---- OpenCV (imgproc/src/resize.cpp) ----

void cv_cubic_coeffs(float x, double* c) {
  constexpr float A = -0.75f;
  c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = 1.0 - c[0] - c[1] - c[2];
}

void cv_lanczos4_coeffs(float x, double* c) {
  double sum = 0;
  for (int i = 0; i < 8; ++i) {
    const double t = x + 3 - i;
    c[i] = sinc(t) * sinc(t / 4);
    sum += c[i];
  }
  for (int i = 0; i < 8; ++i) c[i] /= sum;
}

// Gathers taps at sx - k/2 + 1 .. with the border replicated: clamped indices add their weights.
Window clamped_window(int in_size, int first, const double* coeffs, int ksize) {
  Window win;
  const int lo = std::clamp(first, 0, in_size - 1);
  const int hi = std::clamp(first + ksize - 1, 0, in_size - 1);
  win.first = lo;
  win.w.assign(hi - lo + 1, 0.0);
  for (int k = 0; k < ksize; ++k) win.w[std::clamp(first + k, 0, in_size - 1) - lo] += coeffs[k];
  return win;
}

// INTER_AREA when the image shrinks along both axes (computeResizeAreaTab).
Window cv_area_window(int in_size, double scale, int u) {
  Window win;
  const double fsx1 = u * scale;
  const double fsx2 = fsx1 + scale;
  const double cell = std::min(scale, in_size - fsx1);
  int sx1 = static_cast<int>(std::ceil(fsx1));
  int sx2 = static_cast<int>(std::floor(fsx2));
  sx2 = std::min(sx2, in_size - 1);
  sx1 = std::min(sx1, sx2);
  win.first = sx1;
  if (sx1 - fsx1 > 1e-3) {
    win.first = sx1 - 1;
    win.w.push_back((sx1 - fsx1) / cell);
  }
  for (int sx = sx1; sx < sx2; ++sx) win.w.push_back(1.0 / cell);
  if (fsx2 - sx2 > 1e-3) win.w.push_back(std::min(std::min(fsx2 - sx2, 1.0), cell) / cell);
  if (win.w.empty()) win.w = {0.0};
  return win;
}

Window opencv_window(int in_size, double extent, int resized, int u, Interp interp,
                     bool area_shrinks) {
  const double inv_scale = resized / extent;
  const double scale = 1.0 / inv_scale;
  if (interp == Interp::nearest) {
    const int sx = std::min(static_cast<int>(std::floor(u * scale)), in_size - 1);
    return Window{std::max(sx, 0), {1.0}};
  }
  if (interp == Interp::area && area_shrinks) return cv_area_window(in_size, scale, u);

  int sx;
  float fx;
  if (interp == Interp::area) {  // INTER_AREA while enlarging: a sharper bilinear
    sx = static_cast<int>(std::floor(u * scale));
    fx = static_cast<float>((u + 1) - (sx + 1) * inv_scale);
    fx = fx <= 0 ? 0.f : fx - std::floor(fx);
  } else {
    fx = static_cast<float>((u + 0.5) * scale - 0.5);
    sx = static_cast<int>(std::floor(fx));
    fx -= sx;
  }
  double c[8];
  int ksize = 2;
  if (interp == Interp::cubic) {
    ksize = 4;
    cv_cubic_coeffs(fx, c);
  } else if (interp == Interp::lanczos) {
    ksize = 8;
    cv_lanczos4_coeffs(fx, c);
  } else {
    if (sx < 0) fx = 0, sx = 0;
    if (sx >= in_size - 1) fx = 0, sx = in_size - 1;
    c[0] = 1.f - fx;
    c[1] = fx;
  }
  return clamped_window(in_size, sx - ksize / 2 + 1, c, ksize);
}

// Pillow's normalize_coeffs_8bpc: weights as 22-bit fixed point, rounded away from zero.
int32_t pillow_fixed(double w) {
  constexpr double kOne = 1 << 22;
  return static_cast<int32_t>(w < 0 ? -0.5 + w * kOne : 0.5 + w * kOne);
}

AxisPlan make_axis_plan(int in_size, double extent, int resized, int out_size, int offset,
                        const ResampleMethod& method, bool area_shrinks) {
  std::vector<Window> windows(out_size);
  const double pil_scale = extent / resized;
  const bool pillow_nearest = method.antialias && method.interp == Interp::nearest;
  // The resized positions this axis shows: [u_first, u_last).
  const int u_first = std::clamp(offset, 0, resized);
  const int u_last = std::clamp(offset + out_size, 0, resized);
  const std::vector<int> nearest =
      pillow_nearest ? pillow_nearest_positions(in_size, pil_scale, u_first, u_last)
                     : std::vector<int>{};
  int taps = 1;
  for (int i = 0; i < out_size; ++i) {
    const int u = i + offset;
    if (u < 0 || u >= resized) {
      windows[i].first = -1;
      continue;
    }
    if (pillow_nearest)
      windows[i] = Window{nearest[u - u_first], {1.0}};
    else if (method.antialias)
      windows[i] = pillow_window(in_size, pil_scale, u, method.interp);
    else
      windows[i] = opencv_window(in_size, extent, resized, u, method.interp, area_shrinks);
    taps = std::max(taps, static_cast<int>(windows[i].w.size()));
  }
  const bool fixed = method.antialias && !pillow_nearest;
  AxisPlan plan;
  plan.taps = taps;
  plan.start.resize(out_size);
  plan.weights.assign(static_cast<size_t>(out_size) * taps, 0.f);
  if (fixed) {
    plan.fixed.assign(plan.weights.size(), 0);
    // |float sum - fixed-point sum| <= taps * 255 * (2^-23 for Pillow's weight rounding, ~1.4e-7
    // for float weights and accumulation); about twice that is the bound.
    plan.tie_eps = static_cast<float>(taps + 1) * 255.f * 5e-7f;
  }
  for (int i = 0; i < out_size; ++i) {
    const Window& win = windows[i];
    if (win.first < 0) {
      plan.start[i] = -1;
      continue;
    }
    // Shift windows that would run past the end; the extra taps carry zero weight.
    const int start = std::min(win.first, in_size - taps);
    plan.start[i] = start;
    for (size_t k = 0; k < win.w.size(); ++k) {
      const size_t at = static_cast<size_t>(i) * taps + (win.first - start) + k;
      plan.weights[at] = static_cast<float>(win.w[k]);
      if (fixed) plan.fixed[at] = pillow_fixed(win.w[k]);
    }
  }
  return plan;
}

}  // namespace

int AxisPlan::first_source() const {
  int lo = -1;
  for (int s : start)
    if (s >= 0 && (lo < 0 || s < lo)) lo = s;
  return std::max(lo, 0);
}

int AxisPlan::last_source() const {
  int hi = 0;
  for (int s : start)
    if (s >= 0) hi = std::max(hi, s + taps);
  return hi;
}

void AxisPlan::rebase(int origin) {
  for (int& s : start)
    if (s >= 0) s -= origin;
}

ResizePlan make_resize_plan(int src_w, int src_h, double extent_w, double extent_h,
                            const Placement& placement, const ResampleMethod& method) {
  // OpenCV picks its INTER_AREA algorithm from both axes together.
  const bool area_shrinks =
      extent_w >= placement.resized_w && extent_h >= placement.resized_h;
  ResizePlan plan;
  plan.x = make_axis_plan(src_w, extent_w, placement.resized_w, placement.out_w,
                          placement.offset_x, method, area_shrinks);
  plan.y = make_axis_plan(src_h, extent_h, placement.resized_h, placement.out_h,
                          placement.offset_y, method, area_shrinks);
  plan.pillow_rounding = method.antialias && method.interp != Interp::nearest;
  return plan;
}

}  // namespace imgprep

#include "imgprep/kernels/resample_batch.h"

#include <algorithm>
#include <cstring>

namespace imgprep {
namespace {

uint64_t align_up(uint64_t v) { return (v + BatchTables::kAlign - 1) / BatchTables::kAlign * BatchTables::kAlign; }

}  // namespace

void BatchTables::clear() {
  images_.clear();
  starts_.clear();
  weights_.clear();
  fixed_.clear();
  src_bytes_ = out_bytes_ = 0;
  max_out_w_ = max_out_h_ = 0;
}

BatchImage BatchTables::add(int src_w, int src_h, const ResizePlan& plan, int out_w,
                                   int out_h, const OutputSpec& format) {
  BatchImage im;
  im.src = src_bytes_;
  im.src_w = src_w;
  im.src_h = src_h;
  src_bytes_ = align_up(im.src + static_cast<uint64_t>(src_w) * src_h * 4);
  im.out = out_bytes_;
  im.out_w = out_w;
  im.out_h = out_h;
  out_bytes_ = align_up(im.out + static_cast<uint64_t>(out_w) * out_h * OutputSpec::kChannels *
                                     format.element_size());
  im.x_starts = starts_.size();
  starts_.insert(starts_.end(), plan.x.start.begin(), plan.x.start.end());
  im.y_starts = starts_.size();
  starts_.insert(starts_.end(), plan.y.start.begin(), plan.y.start.end());
  auto add_weights = [this](const AxisPlan& axis) {
    const uint64_t at = weights_.size();
    weights_.insert(weights_.end(), axis.weights.begin(), axis.weights.end());
    if (axis.fixed.empty())
      fixed_.resize(weights_.size(), 0);
    else
      fixed_.insert(fixed_.end(), axis.fixed.begin(), axis.fixed.end());
    return at;
  };
  im.x_weights = add_weights(plan.x);
  im.y_weights = add_weights(plan.y);
  im.x_taps = plan.x.taps;
  im.y_taps = plan.y.taps;
  im.pillow_rounding = plan.pillow_rounding ? 1 : 0;
  im.x_tie_eps = plan.x.tie_eps;
  im.y_tie_eps = plan.y.tie_eps;
  max_out_w_ = std::max(max_out_w_, out_w);
  max_out_h_ = std::max(max_out_h_, out_h);
  images_.push_back(im);
  return im;
}

uint64_t BatchTables::images_at() const { return align_up(src_bytes_); }
uint64_t BatchTables::starts_at() const {
  return align_up(images_at() + images_.size() * sizeof(BatchImage));
}
uint64_t BatchTables::weights_at() const {
  return align_up(starts_at() + starts_.size() * sizeof(int32_t));
}
uint64_t BatchTables::fixed_at() const {
  return align_up(weights_at() + weights_.size() * sizeof(float));
}
uint64_t BatchTables::staging_bytes() const {
  return fixed_at() + fixed_.size() * sizeof(int32_t);
}

void BatchTables::pack_tables(uint8_t* staging) const {
  std::memcpy(staging + images_at(), images_.data(), images_.size() * sizeof(BatchImage));
  std::memcpy(staging + starts_at(), starts_.data(), starts_.size() * sizeof(int32_t));
  std::memcpy(staging + weights_at(), weights_.data(), weights_.size() * sizeof(float));
  std::memcpy(staging + fixed_at(), fixed_.data(), fixed_.size() * sizeof(int32_t));
}

BatchView BatchTables::device_view(const uint8_t* staging, uint8_t* out) const {
  BatchView b;
  b.src = staging;
  b.images = reinterpret_cast<const BatchImage*>(staging + images_at());
  b.starts = reinterpret_cast<const int32_t*>(staging + starts_at());
  b.weights = reinterpret_cast<const float*>(staging + weights_at());
  b.fixed = reinterpret_cast<const int32_t*>(staging + fixed_at());
  b.out = out;
  b.image_count = static_cast<int>(images_.size());
  b.max_out_w = max_out_w_;
  b.max_out_h = max_out_h_;
  return b;
}

BatchView BatchTables::host_view(const uint8_t* src, uint8_t* out) const {
  BatchView b;
  b.src = src;
  b.images = images_.data();
  b.starts = starts_.data();
  b.weights = weights_.data();
  b.fixed = fixed_.data();
  b.out = out;
  b.image_count = static_cast<int>(images_.size());
  b.max_out_w = max_out_w_;
  b.max_out_h = max_out_h_;
  return b;
}

LaunchShape resample_launch_shape(const BatchView& batch) {
  return batch_launch_shape(static_cast<uint64_t>(batch.max_out_w),
                            static_cast<uint64_t>(batch.max_out_h),
                            static_cast<uint64_t>(batch.image_count));
}

void resample_batch_on_host(const BatchTables& tables, const OutputSpec& format,
                            const uint8_t* src, uint8_t* out) {
  const BatchView batch = tables.host_view(src, out);
  for (const BatchImage& image : tables.images())
    for (int Y = 0; Y < image.out_h; ++Y)
      for (int X = 0; X < image.out_w; ++X) resample_batch_pixel(image, batch, format, X, Y);
}

}  // namespace imgprep

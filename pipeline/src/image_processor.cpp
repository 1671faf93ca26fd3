#include "imgprep/pipeline/image_processor.h"

#include "imgprep/pipeline/opencv_codecs.h"

namespace imgprep {

ImageProcessor::ImageProcessor(const Options& options)
    : options_(options), spec_(make_output_spec(options)) {
  decode_.exif = options.exif;
  decode_.shrink_on_load = options.shrink_on_load;
  decode_.max_pixels = options.max_pixels;
  decode_.resize = options.resize;
  decode_.crop = options.crop;
  if (options.format == OutputFormat::images) {
    // Files hold 8-bit pixels in OpenCV's encoder order.
    spec_.layout = Layout::nhwc;
    spec_.dtype = DType::uint8;
    spec_.bgr = true;
  }
}

void ImageProcessor::process(Job& job, Scratch& s, RunStats& stats) const {
  if (!job.ok() || job.cancelled) return;
  try {
    ResizePlan plan;
    Placement placement;
    {
      StageTimer timer(stats, Stage::decode);
      const ImageInfo info = s.decoder.open(job.encoded, decode_);
      job.width = info.width;
      job.height = info.height;
      placement = place(info.width, info.height, options_.resize, options_.crop);
      plan = make_resize_plan(info.decoded_width, info.decoded_height, info.extent_w,
                              info.extent_h, placement, options_.method);
      // Only the pixels the plan reads are decoded (JPEG: whole iMCU columns, skipped rows).
      const Region needed{plan.x.first_source(), plan.y.first_source(),
                          plan.x.last_source() - plan.x.first_source(),
                          plan.y.last_source() - plan.y.first_source()};
      s.decoder.decode(s.image, needed);
      job.warning = s.image.warning;
    }
    StageTimer timer(stats, Stage::transform);
    plan.x.rebase(s.image.origin_x);
    plan.y.rebase(s.image.origin_y);
    OutputSpec spec = spec_;
    spec.width = placement.out_w;
    spec.height = placement.out_h;
    job.output.resize(spec.bytes());
    s.resampler.run(s.image, plan, spec, job.output.data());
    if (options_.format == OutputFormat::images) encode_image(spec, job);
  } catch (const DecodeError& e) {
    job.width = s.decoder.info().width;
    job.height = s.decoder.info().height;
    job.error = e.what();
  } catch (const std::bad_alloc&) {
    job.error = "out of memory while decoding";
  } catch (const std::exception& e) {
    job.error = std::string("cannot process: ") + e.what();
  }
}

void ImageProcessor::encode_image(const OutputSpec& spec, Job& job) const {
  Bytes encoded;
  opencv_encode(job.output.data(), spec.width, spec.height, "." + options_.image_format,
                options_.quality, encoded);
  job.output.swap(encoded);
}

}  // namespace imgprep

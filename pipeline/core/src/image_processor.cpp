#include "imgprep/core/image_processor.h"

#include "imgprep/codecs/icc_profile.h"
#include "imgprep/codecs/opencv_codecs.h"

namespace imgprep {

ImageProcessor::ImageProcessor(const ProcessingOptions& options)
    : options_(options), spec_(make_output_spec(options)) {
  decode_.exif = options.exif;
  decode_.shrink_on_load = options.shrink_on_load;
  decode_.icc_profile = writes_images(options.format) && !options.strip;
  decode_.max_pixels = options.max_pixels;
  decode_.resize = options.resize;
  decode_.crop = options.crop;
  // A resized crop's box is drawn on the full image, and torchvision crops from a full decode.
  // The GPU's decoder decodes at full scale, and so do the CPU cores beside it, so that an image
  // has one plan whichever decodes it.
  if (options.augment.resized_crop() || options.decode == DecodeOn::gpu)
    decode_.shrink_on_load = ShrinkOnLoad::off;
  if (writes_images(options.format)) {
    // Files hold 8-bit pixels in OpenCV's encoder order.
    spec_.layout = Layout::nhwc;
    spec_.dtype = DType::uint8;
    spec_.bgr = true;
  }
}

void decode_window(Decoder& decoder, ResizePlan& plan, DecodedImage& image) {
  const Region window{plan.x.first_source(), plan.y.first_source(),
                      plan.x.last_source() - plan.x.first_source(),
                      plan.y.last_source() - plan.y.first_source()};
  decoder.decode(image, window);
  plan.x.rebase(image.origin_x);
  plan.y.rebase(image.origin_y);
}

namespace {

// What nvJPEG's hardware decoder takes (its GPU backend takes more): baseline Huffman-coded
// single-scan JPEGs of 8-bit samples, gray or YCbCr in 4:4:4, 4:2:2, 4:2:0 or 4:4:0, whole.
bool gpu_decodable(const JpegLayout& j) {
  if (j.progressive || j.arithmetic || !j.single_scan || j.precision != 8 || !j.complete)
    return false;
  if (j.components == 1) return true;
  if (j.components != 3 || j.cmyk) return false;
  const JpegLayout::Sampling y = j.sampling[0], cb = j.sampling[1], cr = j.sampling[2];
  const bool chroma_full = cb.h == 1 && cb.v == 1 && cr.h == 1 && cr.v == 1;
  return chroma_full && (y.h == 1 || y.h == 2) && (y.v == 1 || y.v == 2);
}

}  // namespace

bool ImageProcessor::leave_to_gpu(const Job& job, const Decoder& decoder) const {
  return options_.decode == DecodeOn::gpu && decoder.info().format == ImageFormat::jpeg &&
         gpu_decodable(decoder.jpeg_layout()) &&
         !in_keyed_share(job.item->key, options_.cpu_decode_share);
}

void ImageProcessor::prepare(Job& job, Scratch& s, RunStats& stats, DecodedImage& image,
                             ResizePlan& plan, Placement& placement, bool gpu_may_decode) const {
  StageTimer timer(stats, Stage::decode);
  const ImageInfo info = s.decoder.open(job.encoded, decode_);
  job.width = info.width;
  job.height = info.height;
  const Augment& augment = options_.augment;
  AugmentDraw draw;
  if (augment.active()) {
    draw = draw_augment(augment, info.width, info.height, job.item->key);
    job.box = draw.box;
    job.flipped = draw.flip;
  }
  if (augment.resized_crop()) {
    placement = Placement{augment.crop_w, augment.crop_h, augment.crop_w, augment.crop_h, 0, 0};
    plan = make_box_plan(draw.box, augment.crop_w, augment.crop_h, options_.method);
  } else {
    placement = place(info.width, info.height, options_.resize, options_.crop);
    const PlanKey key{info.decoded_width, info.decoded_height, info.extent_w, info.extent_h,
                      placement.resized_w, placement.resized_h, placement.out_w, placement.out_h,
                      placement.offset_x, placement.offset_y};
    if (!(key == s.last_key) || s.last_plan.x.start.empty()) {
      s.last_plan = make_resize_plan(info.decoded_width, info.decoded_height, info.extent_w,
                                     info.extent_h, placement, options_.method);
      s.last_key = key;
    }
    plan = s.last_plan;  // copies into plan's existing storage
  }
  if (draw.flip) flip_horizontally(plan);
  if (gpu_may_decode && leave_to_gpu(job, s.decoder)) {
    // The window the plan reads, upright; the GPU decodes it (job.gpu_decode).
    const PixelRect window{plan.x.first_source(), plan.y.first_source(),
                           plan.x.last_source() - plan.x.first_source(),
                           plan.y.last_source() - plan.y.first_source()};
    plan.x.rebase(window.x);
    plan.y.rebase(window.y);
    const int orientation = s.decoder.orientation();
    const bool swap = orientation >= 5;
    job.gpu_decode = {true, orientation, swap ? info.height : info.width,
                      swap ? info.width : info.height, window};
    image.pixels.clear();
    image.width = window.width;
    image.height = window.height;
    image.origin_x = window.x;
    image.origin_y = window.y;
    image.source_width = info.width;
    image.source_height = info.height;
    image.warning.clear();
    image.icc_profile = s.decoder.jpeg_icc_profile();  // image outputs keep it
    job.warning.clear();
    return;
  }
  job.gpu_decode = {};
  decode_window(s.decoder, plan, image);
  stats.decoded_bytes.fetch_add(int64_t{image.width} * image.height * 3, std::memory_order_relaxed);
  job.warning = image.warning;
}

// Runs body; turns what bad input can throw into job.error.
template <class Body>
void guard(Job& job, const Decoder& decoder, Body body) {
  try {
    body();
  } catch (const DecodeError& e) {
    job.width = decoder.info().width;
    job.height = decoder.info().height;
    job.error = e.what();
  } catch (const std::bad_alloc&) {
    job.error = "out of memory while decoding";
  } catch (const std::exception& e) {
    job.error = std::string("cannot process: ") + e.what();
  }
}

void ImageProcessor::process(Job& job, Scratch& s, RunStats& stats) const {
  if (!job.ok() || job.cancelled) return;
  guard(job, s.decoder, [&] {
    Placement placement;
    prepare(job, s, stats, s.image, s.plan, placement);
    StageTimer timer(stats, Stage::transform);
    job.out_w = placement.out_w;
    job.out_h = placement.out_h;
    const OutputSpec spec = spec_.sized(placement.out_w, placement.out_h);
    job.output.resize(spec.bytes());
    s.resampler.run(s.image, s.plan, spec, job.output.data());
    if (writes_images(options_.format)) finish_output(job, spec, s.image.icc_profile);
  });
}

void ImageProcessor::decode_and_plan(Job& job, Scratch& s, RunStats& stats,
                                     bool gpu_may_decode) const {
  if (!job.ok() || job.cancelled) return;
  guard(job, s.decoder, [&] {
    Placement placement;
    prepare(job, s, stats, job.decoded, job.plan, placement, gpu_may_decode);
    job.out_w = placement.out_w;
    job.out_h = placement.out_h;
  });
}

void ImageProcessor::finish_output(Job& job) const {
  const OutputSpec spec = spec_.sized(job.out_w, job.out_h);
  try {
    finish_output(job, spec, job.decoded.icc_profile);
  } catch (const std::exception& e) {
    job.error = std::string("cannot encode: ") + e.what();
  }
}

// The image file keeps the input's colour profile (read unless --strip), as libvips does; a
// profile of another colour space than the RGB pixels (gray, CMYK) is left out.
void ImageProcessor::finish_output(Job& job, const OutputSpec& spec,
                                   const std::string& icc_profile) const {
  if (!writes_images(options_.format)) return;
  const std::string ext = "." + options_.image_format;
  Bytes encoded;
  opencv_encode(job.output.data(), spec.width, spec.height, ext, options_.quality, encoded);
  if (is_rgb_icc_profile(icc_profile))
    embed_icc_profile(encoded, ext, spec.width, spec.height, icc_profile);
  job.output.swap(encoded);
}

}  // namespace imgprep

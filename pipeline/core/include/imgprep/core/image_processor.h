// Decode + resample + normalise (+ encode, for image output) of one job: the CPU work every CPU
// engine runs per image. Const and thread-safe; each thread brings its own Scratch.
#pragma once

#include "imgprep/kernels/resample_plan.h"
#include "imgprep/codecs/decoder.h"
#include "imgprep/core/augment.h"
#include "imgprep/core/job.h"
#include "imgprep/core/options.h"
#include "imgprep/core/output_options.h"
#include "imgprep/core/resampler.h"
#include "imgprep/core/run_stats.h"

namespace imgprep {

// What a plan depends on besides the options; images of one size share a plan.
struct PlanKey {
  int decoded_w = 0, decoded_h = 0;
  double extent_w = 0, extent_h = 0;
  int resized_w = 0, resized_h = 0, out_w = 0, out_h = 0, offset_x = 0, offset_y = 0;
  bool operator==(const PlanKey&) const = default;
};

// Decodes the part of the image open in decoder that plan reads (JPEG: whole iMCU columns and the
// rows it needs; other formats: all of it) and rebases plan onto the decoded pixels.
void decode_window(Decoder& decoder, ResizePlan& plan, DecodedImage& image);

struct Scratch {
  Decoder decoder;
  DecodedImage image;
  ResizePlan plan;
  // The last plan made on this thread, before rebasing to a decoded region.
  PlanKey last_key;
  ResizePlan last_plan;
  Resampler resampler;
};

class ImageProcessor {
 public:
  explicit ImageProcessor(const ProcessingOptions& options);

  // Fills job.output and job.out_w/out_h from job.encoded, or sets job.error. Never throws for
  // bad input.
  void process(Job& job, Scratch& scratch, RunStats& stats) const;
  // The CPU half for engines that resample elsewhere: decodes into job.decoded and sets
  // job.plan (relative to the decoded region) and job.out_w/out_h, or sets job.error. With
  // --decode gpu and `gpu_may_decode`, a JPEG for the GPU's decoder is planned only
  // (job.gpu_decode); the GPU engine calls this again without it for one the GPU gives back.
  void decode_and_plan(Job& job, Scratch& scratch, RunStats& stats,
                       bool gpu_may_decode = true) const;
  // The tensor in job.output, made elsewhere, becomes the image file for --format images.
  void finish_output(Job& job) const;

  const OutputSpec& spec() const { return spec_; }
  const ProcessingOptions& options() const { return options_; }

 private:
  // Encodes job.output, with icc_profile (that of the decoded input) embedded.
  void finish_output(Job& job, const OutputSpec& spec, const std::string& icc_profile) const;
  // decode_and_plan into `image` and `plan`.
  void prepare(Job& job, Scratch& scratch, RunStats& stats, DecodedImage& image,
               ResizePlan& plan, Placement& placement, bool gpu_may_decode = false) const;
  // Whether the open JPEG goes to the GPU's decoder (--decode gpu).
  bool leave_to_gpu(const Job& job, const Decoder& decoder) const;

  ProcessingOptions options_;
  DecodeOptions decode_;
  OutputSpec spec_;
};

}  // namespace imgprep

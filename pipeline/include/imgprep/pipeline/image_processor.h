// Decode + resample + normalise (+ encode, for image output) of one job: the CPU work every CPU
// engine runs per image. Const and thread-safe; each thread brings its own Scratch.
#pragma once

#include "imgprep/kernels/resample_plan.h"
#include "imgprep/pipeline/decoder.h"
#include "imgprep/pipeline/job.h"
#include "imgprep/pipeline/options.h"
#include "imgprep/pipeline/output_spec.h"
#include "imgprep/pipeline/resampler.h"
#include "imgprep/pipeline/run_stats.h"

namespace imgprep {

struct Scratch {
  Decoder decoder;
  DecodedImage image;
  Resampler resampler;
};

class ImageProcessor {
 public:
  explicit ImageProcessor(const Options& options);

  // Fills job.output from job.encoded, or sets job.error. Never throws for bad input.
  void process(Job& job, Scratch& scratch, RunStats& stats) const;

  const OutputSpec& spec() const { return spec_; }
  const DecodeOptions& decode_options() const { return decode_; }

 private:
  void encode_image(const OutputSpec& spec, Job& job) const;

  Options options_;
  DecodeOptions decode_;
  OutputSpec spec_;
};

}  // namespace imgprep

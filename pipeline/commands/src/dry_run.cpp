#include "dry_run.h"

#include <cstdio>
#include <map>
#include <optional>

#include "imgprep/codecs/image_format.h"
#include "imgprep/outputs/output_sinks.h"
#include "imgprep/core/output_options.h"
#include "imgprep/commands/run.h"
#include "imgprep/imgprep.h"

namespace imgprep {
namespace fs = std::filesystem;
namespace {

std::string size_text(uint64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f MiB (%llu bytes)", bytes / 1048576.0,
                static_cast<unsigned long long>(bytes));
  return text;
}

std::string plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "N images: 15 JPEG, 2 PNG", then the files that are no image by content or cannot be read.
void print_formats(const InputList& inputs, std::ostream& out) {
  std::map<ImageFormat, size_t> formats;
  size_t unreadable = 0;
  for (const InputItem& item : inputs.items) {
    const std::optional<ImageFormat> format = sniff_file(item.path);
    format ? ++formats[*format] : ++unreadable;
  }
  out << "  " << plural(inputs.items.size(), "image", "images");
  const char* separator = ": ";
  for (const auto& [format, count] : formats)
    if (format != ImageFormat::unknown) {
      out << separator << count << " " << format_name(format);
      separator = ", ";
    }
  out << "\n";
  // Named as images (by extension) but no known format by content: a run fails most of them.
  if (formats.count(ImageFormat::unknown))
    out << "  " << formats[ImageFormat::unknown]
        << " of them not an image by content (listed by extension; a run fails them)\n";
  if (unreadable > 0) out << "  " << unreadable << " of them unreadable (a run fails them)\n";
}

// The images per label: class names from the folders (or a class list), else integer labels.
void print_labels(const InputList& inputs, std::ostream& out) {
  if (!inputs.has_labels) {
    out << "  no labels\n";
    return;
  }
  std::map<int64_t, size_t> per_label;
  for (const InputItem& item : inputs.items) ++per_label[item.label];
  const size_t labelled = per_label.size() - per_label.count(kNoLabel);
  if (inputs.classes.empty()) {
    out << "  " << plural(labelled, "label", "labels") << " (label: images)\n";
  } else {
    out << "  " << plural(inputs.classes.size(), "class", "classes")
        << " (label name: images)\n";
    for (size_t label = 0; label < inputs.classes.size(); ++label)
      per_label.try_emplace(static_cast<int64_t>(label), 0);
  }
  for (const auto& [label, count] : per_label) {
    out << "    ";
    if (label == kNoLabel)
      out << "no label";
    else if (inputs.classes.empty())
      out << label;
    else
      out << label << " " << inputs.classes.at(static_cast<size_t>(label));
    out << ": " << count << "\n";
  }
}

void print_skipped(const InputList& inputs, std::ostream& out) {
  if (inputs.skipped > 0)
    out << "  skipped: " << plural(inputs.skipped, "non-image file", "non-image files")
        << " (an image by neither name nor content)\n";
  for (const std::string& e : inputs.walk_errors) out << "  warning: " << e << "\n";
}

void print_outputs(const Options& o, const InputList& inputs, std::ostream& out) {
  const auto rows = static_cast<int64_t>(inputs.items.size());
  const std::string others = std::string(inputs.classes.empty() ? "" : ", classes.json") +
                             ", manifest.jsonl and meta.json\n";
  if (o.format == OutputFormat::images)
    out << "  output: " << plural(inputs.items.size(), o.image_format + " file",
                                  o.image_format + " files")
        << others;
  if (writes_tars(o.format)) {
    const auto tars = static_cast<size_t>((rows + o.shard_size - 1) / o.shard_size);
    out << "  output: " << plural(tars, "tar shard", "tar shards") << " of up to "
        << o.shard_size << " samples, each with ."
        << (writes_tensors(o.format) ? "npy" : o.image_format)
        << (inputs.has_labels ? ", .cls" : "") << " and .json members" << others;
  }
  if (writes_images(o.format)) {
    uint64_t input_bytes = 0;
    for (const InputItem& item : inputs.items) {
      std::error_code ec;
      const uintmax_t size = fs::file_size(item.path, ec);
      if (!ec) input_bytes += size;
    }
    out << "  size on disk: not estimated (it depends on the pictures and --quality); the "
        << "inputs take " << size_text(input_bytes) << "\n";
    return;
  }
  const OutputSpec spec = make_output_spec(o);
  const bool npy = o.format == OutputFormat::npy;
  const ShardOutputSize size =
      npy ? npy_output_size(spec, o.shard_size, rows, inputs.has_labels)
          : wds_output_size(spec, o.shard_size, rows, inputs.has_labels);
  char shape[64];
  std::snprintf(shape, sizeof shape,
                spec.layout == Layout::nchw ? "%s nchw 3x%dx%d" : "%s nhwc %dx%dx3",
                to_string(spec.dtype), spec.height, spec.width);
  if (npy)
    out << "  output: " << plural(static_cast<size_t>(size.shards), "shard", "shards")
        << " of up to " << o.shard_size << " images"
        << (inputs.has_labels ? " with label files" : "") << others;
  out << "  each image: " << shape << ", " << spec.bytes() << " bytes\n"
      << "  size on disk: " << (npy ? "" : "about ") << size_text(size.bytes)
      << (npy ? " of shards" : " of tars") << " if no image fails, plus the manifest\n";
}

}  // namespace

int dry_run(const Options& options, std::ostream& out) {
  const JobPlan plan = plan_job(options);
  const InputList& inputs = plan.inputs;
  out << "imgprep: dry run of " << options.input.string()
      << ": nothing is decoded, nothing is written to " << options.output.string() << "\n"
      << "  " << plan.engine.line << "\n";
  if (options.slice.count > 1)
    out << "  --shard " << options.slice.index << "/" << options.slice.count << ": inputs "
        << inputs.first << ".." << inputs.first + inputs.items.size() << " of the "
        << inputs.unsliced << ", into the part folder "
        << part_folder(options.output, options.slice).string() << " (imgprep merge "
        << options.output.string() << " joins the parts)\n";
  print_formats(inputs, out);
  print_labels(inputs, out);
  print_skipped(inputs, out);
  print_outputs(options, inputs, out);
  if (options.resume)
    out << "  --resume: counted from the start; a run continues after what OUT holds\n";
  return kExitOk;
}

}  // namespace imgprep

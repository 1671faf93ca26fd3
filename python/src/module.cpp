// imgprep._imgprep: the library API (imgprep/imgprep.h) for Python. The Python side
// (imgprep/__init__.py) turns keyword arguments into overrides and results into dicts; everything
// here releases the GIL while C++ works.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "imgprep/core/json_text.h"
#include "imgprep/core/output_options.h"
#include "imgprep/engines/gpu_engine.h"
#include "imgprep/engines/procs_engine.h"
#include "imgprep/imgprep.h"
#include "imgprep/outputs/atomic_file.h"  // OutputError

namespace nb = nanobind;
using namespace nb::literals;

namespace imgprep {
namespace {

// A config's options, reading INPUT and writing OUT.
Options with_paths(const Options& config, const std::string& input, const std::string& output) {
  Options options = config;
  options.input = input;
  options.output = output;
  return options;
}

ConfigFor config_for(const std::string& use) {
  if (use == "run") return ConfigFor::run;
  if (use == "bench") return ConfigFor::bench;
  throw UsageError("use: expected run or bench, got '" + use + "'");
}

nb::list settings_list() {
  nb::list out;
  for (const Setting& s : settings()) {
    nb::dict d;
    d["name"] = s.name;
    d["group"] = s.group;
    d["help"] = s.help;
    d["flag"] = s.kind == Setting::Kind::flag;
    d["run_only"] = s.run_only;
    out.append(d);
  }
  return out;
}

// Waits for `ready` with the GIL released, looking at Python's signals every 100 ms (Ctrl-C
// raises KeyboardInterrupt here; the caller's cleanup then stops the engine).
template <class Ready>
void wait_interruptibly(const Ready& ready) {
  for (;;) {
    bool done;
    {
      nb::gil_scoped_release release;
      done = ready();
    }
    if (done) return;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
  }
}

// Runs `work` on a thread of its own while this (Python's) thread waits without the GIL: a
// Ctrl-C requests `stop` (as the command's first Ctrl-C does), the work ends with what is
// complete kept, and then KeyboardInterrupt is raised.
template <class Result>
Result interruptible(JobStop& stop, const std::function<Result()>& work) {
  std::packaged_task<Result()> task(work);
  std::future<Result> result = task.get_future();
  std::thread thread(std::move(task));
  try {
    wait_interruptibly([&] {
      return result.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready;
    });
  } catch (const nb::python_error&) {
    stop.request(SIGINT);
    {
      nb::gil_scoped_release release;
      thread.join();
    }
    throw;
  }
  thread.join();
  return result.get();
}

nb::dict summary_dict(const JobSummary& s) {
  nb::dict d;
  d["engine"] = s.engine;
  d["inputs"] = s.inputs;
  d["processed"] = s.processed;
  d["failed"] = s.failed;
  d["failed_in_all"] = s.failed_in_all;
  d["skipped"] = s.skipped;
  d["seconds"] = s.seconds;
  d["images_per_second"] = s.images_per_second();
  nb::dict busy;
  for (int stage = 0; stage < static_cast<int>(Stage::count); ++stage)
    busy[stage_name(static_cast<Stage>(stage))] = s.busy_seconds[stage];
  d["busy_seconds"] = busy;
  nb::list warnings;
  for (const std::string& w : s.warnings) warnings.append(w);
  d["warnings"] = warnings;
  d["already_complete"] = s.already_complete;
  d["stopped_early"] = s.stopped_early;
  d["interrupted"] = s.interrupted != 0;
  d["resumable_from"] = s.resumable_from;
  d["output"] = json_text(s.output);  // parsed by the Python side
  d["manifest"] = s.manifest.string();
  d["exit_code"] = s.exit_code();
  return d;
}

nb::dlpack::dtype dlpack_dtype(DType dtype) {
  switch (dtype) {
    case DType::float32: return nb::dtype<float>();
    case DType::uint8: return nb::dtype<uint8_t>();
    case DType::float16:
      return {static_cast<uint8_t>(nb::dlpack::dtype_code::Float), 16, 1};
  }
  return nb::dtype<float>();
}

// The tensors of `paths` in one array (N, C, H, W) or (N, H, W, C) that owns its buffer, and
// per input None (it succeeded) or why it failed; a failed input's tensor is zeros.
nb::tuple process(const std::vector<std::string>& paths, const Options& options) {
  if (!writes_tensors(options.format))
    throw UsageError(std::string("process() makes tensors: --format ") + to_string(options.format) +
                     " writes image files (use run())");
  std::vector<InputItem> items;
  items.reserve(paths.size());
  for (const std::string& path : paths) items.push_back({path, path, kNoLabel});
  const OutputSpec spec = make_output_spec(options);
  const size_t item_bytes = spec.bytes();
  const size_t total = item_bytes * items.size();
  auto buffer = std::make_unique<uint8_t[]>(std::max<size_t>(total, 1));
  std::memset(buffer.get(), 0, total);
  std::vector<std::string> errors(items.size());
  JobStop stop;
  interruptible<StreamSummary>(stop, [&] {
    return process_images(
        items, options,
        [&](const ProcessedImage& image) {
          if (image.ok() && image.data.size() == item_bytes)
            std::memcpy(buffer.get() + image.index * item_bytes, image.data.data(), item_bytes);
          else if (image.ok())
            errors[image.index] = "unexpected tensor size";
          else
            errors[image.index] = std::string(image.error);
          return true;
        },
        &stop);
  });
  const size_t n = items.size(), h = spec.height, w = spec.width;
  const size_t nchw[4] = {n, 3, h, w}, nhwc[4] = {n, h, w, 3};
  uint8_t* data = buffer.release();
  nb::capsule owner(data, [](void* bytes) noexcept { delete[] static_cast<uint8_t*>(bytes); });
  nb::ndarray<nb::numpy> array(data, 4, options.layout == Layout::nchw ? nchw : nhwc, owner,
                               nullptr, dlpack_dtype(options.dtype));
  nb::list status;
  for (const std::string& e : errors) {
    if (e.empty())
      status.append(nb::none());
    else
      status.append(e);
  }
  return nb::make_tuple(array, status);
}

// An array over `bytes` that keeps `owner` (a shared buffer) alive as long as it lives: a numpy
// array in host memory (device < 0), else an array of that CUDA device's memory that frameworks
// take by DLPack (torch.utils.dlpack.from_dlpack, cupy.from_dlpack, ...).
nb::object shared_array(std::shared_ptr<uint8_t[]> owner, uint8_t* bytes,
                        std::vector<size_t> shape, nb::dlpack::dtype dtype, int device) {
  auto* keep = new std::shared_ptr<uint8_t[]>(std::move(owner));
  nb::capsule capsule(keep, [](void* p) noexcept {
    delete static_cast<std::shared_ptr<uint8_t[]>*>(p);
  });
  if (device < 0)
    return nb::cast(
        nb::ndarray<nb::numpy>(bytes, shape.size(), shape.data(), capsule, nullptr, dtype));
  return nb::cast(nb::ndarray<nb::array_api>(bytes, shape.size(), shape.data(), capsule, nullptr,
                                             dtype, nb::device::cuda::value, device));
}

std::vector<InputItem> items_of(const std::vector<std::string>& paths,
                                const std::vector<int64_t>& labels,
                                const std::vector<uint64_t>& keys) {
  if (labels.size() != paths.size() || keys.size() != paths.size())
    throw UsageError("paths, labels and keys differ in length");
  std::vector<InputItem> items(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) items[i] = {paths[i], paths[i], labels[i], keys[i]};
  return items;
}

// The next batch as (images, labels, keys, boxes, flipped, failed), or None after the last.
nb::object next_batch(BatchStream& stream, const Options& options) {
  wait_interruptibly([&] { return stream.ready_within(std::chrono::milliseconds(100)); });
  std::optional<Batch> batch;
  {
    nb::gil_scoped_release release;
    batch = stream.next();
  }
  if (!batch) return nb::none();
  const OutputSpec spec = make_output_spec(options);
  const size_t n = batch->count, h = spec.height, w = spec.width;
  std::vector<size_t> shape = options.layout == Layout::nchw ? std::vector<size_t>{n, 3, h, w}
                                                             : std::vector<size_t>{n, h, w, 3};
  uint8_t* bytes = batch->tensors.get();
  nb::object images =
      shared_array(batch->tensors, bytes, shape, dlpack_dtype(options.dtype), batch->device);
  auto labels = std::make_shared<std::vector<int64_t>>(std::move(batch->labels));
  const size_t label_shape[1] = {n};
  auto* keep = new std::shared_ptr<std::vector<int64_t>>(labels);
  nb::capsule owner(keep, [](void* p) noexcept {
    delete static_cast<std::shared_ptr<std::vector<int64_t>>*>(p);
  });
  nb::object label_array =
      nb::cast(nb::ndarray<nb::numpy, int64_t>(labels->data(), 1, label_shape, owner));
  nb::list boxes, failed;
  for (const CropBox& b : batch->boxes) boxes.append(nb::make_tuple(b.x, b.y, b.width, b.height));
  for (const Batch::Failure& f : batch->failed) failed.append(nb::make_tuple(f.index, f.error));
  nb::list flipped;
  for (uint8_t f : batch->flipped) flipped.append(f != 0);
  return nb::make_tuple(images, label_array, batch->keys, boxes, flipped, failed);
}

}  // namespace
}  // namespace imgprep

NB_MODULE(_imgprep, m) {
  using namespace imgprep;
  m.doc() = "imgprep's C++ library; use the imgprep package rather than this module";
  nb::exception<UsageError>(m, "UsageError", PyExc_ValueError);
  nb::exception<InputError>(m, "InputError", PyExc_ValueError);
  nb::exception<OutputError>(m, "OutputError", PyExc_OSError);
  nb::exception<WorkerError>(m, "WorkerError", PyExc_RuntimeError);
  nb::exception<GpuError>(m, "GpuError", PyExc_RuntimeError);

  nb::class_<Options>(m, "Options")
      .def("to_json", [](const Options& o) { return json_text(to_json(o)); })
      .def_prop_ro("layout", [](const Options& o) { return std::string(to_string(o.layout)); })
      .def_prop_ro("dtype", [](const Options& o) { return std::string(to_string(o.dtype)); });

  m.def("settings", &settings_list);
  m.def(
      "resolve",
      [](const std::string& preset, const std::vector<std::pair<std::string, std::string>>& pairs,
         const std::string& use) {
        std::vector<Override> overrides;
        for (const auto& [name, value] : pairs) overrides.push_back({name, value});
        return resolve_config(preset, overrides, config_for(use));
      },
      "preset"_a, "overrides"_a, "use"_a = "run");
  m.def(
      "run_job",
      [](const Options& config, const std::string& input, const std::string& output) {
        const Options options = with_paths(config, input, output);
        JobStop stop;
        return summary_dict(
            interruptible<JobSummary>(stop, [&] { return run_job(options, &stop); }));
      },
      "options"_a, "input"_a, "output"_a);
  m.def(
      "plan",
      [](const Options& config, const std::string& input, const std::string& output) {
        const Options options = with_paths(config, input, output);
        JobPlan plan;
        {
          nb::gil_scoped_release release;
          plan = plan_job(options);
        }
        nb::dict d;
        d["engine"] = plan.engine.line;
        d["inputs"] = plan.inputs.items.size();
        d["first_input"] = plan.inputs.first;
        d["all_inputs"] = plan.inputs.unsliced;
        d["fingerprint"] = plan.inputs.unsliced_fingerprint;
        d["classes"] = plan.inputs.classes;
        d["has_labels"] = plan.inputs.has_labels;
        d["skipped"] = plan.inputs.skipped;
        d["out"] = part_folder(options.output, options.slice).string();
        return d;
      },
      "options"_a, "input"_a, "output"_a);
  m.def(
      "part_folder",
      [](const std::string& out, int index, int count) {
        return part_folder(out, InputSlice{index, count}).string();
      },
      "out"_a, "index"_a, "count"_a);
  m.def(
      "merge",
      [](const std::string& out) {
        MergeSummary s;
        {
          nb::gil_scoped_release release;
          s = merge_parts(out);
        }
        nb::dict d;
        d["parts"] = s.parts;
        d["format"] = s.format;
        d["inputs"] = s.inputs;
        d["failed"] = s.failed;
        d["files"] = s.files;
        d["copied"] = s.copied;
        return d;
      },
      "out"_a);
  m.def("process", &process, "paths"_a, "options"_a);
  m.def(
      "with_augment",
      [](const Options& config, int crop_w, int crop_h, double scale_min, double scale_max,
         double ratio_min, double ratio_max, const std::string& interp, double flip_p,
         uint64_t seed, uint64_t epoch) {
        Options o = config;
        Augment& a = o.augment;
        a = Augment{crop_w, crop_h, scale_min, scale_max, ratio_min, ratio_max, flip_p, seed, epoch};
        if (a.resized_crop()) {
          o.resize = ResizeSpec{};
          o.crop = CropSpec{};
          if (!interp.empty()) o.method.interp = parse_interp(interp);
        }
        validate(o);
        return o;
      },
      "options"_a, "crop_w"_a, "crop_h"_a, "scale_min"_a, "scale_max"_a, "ratio_min"_a,
      "ratio_max"_a, "interp"_a, "flip_p"_a, "seed"_a, "epoch"_a);
  m.def("shuffled_order", &shuffled_order, "n"_a, "seed"_a, "epoch"_a);
  m.def(
      "probe_gpu",
      [](int device) {
        GpuProbe probe;
        {
          nb::gil_scoped_release release;
          probe = probe_gpu(device);
        }
        return nb::make_tuple(probe.usable, probe.description);
      },
      "device"_a);
  m.def(
      "list_inputs",
      [](const std::string& input, const std::string& classes) {
        InputList list;
        {
          nb::gil_scoped_release release;
          list = imgprep::list_inputs(input, {}, {}, classes);
        }
        std::vector<std::string> paths;
        std::vector<int64_t> labels;
        for (const InputItem& item : list.items) {
          paths.push_back(item.path.string());
          labels.push_back(item.label);
        }
        return nb::make_tuple(paths, labels, list.classes);
      },
      "input"_a, "classes"_a = "");

  nb::class_<BatchBuffers>(m, "BatchBuffers")
      .def(nb::init<size_t, int>(), "keep"_a, "device"_a = -1);
  nb::class_<BatchStream>(m, "BatchStream")
      .def(
          "__init__",
          [](BatchStream* self, const std::vector<std::string>& paths,
             const std::vector<int64_t>& labels, const std::vector<uint64_t>& keys,
             const Options& options, size_t batch_size, size_t prefetch,
             std::shared_ptr<BatchBuffers> buffers) {
            new (self) BatchStream(items_of(paths, labels, keys), options, batch_size, prefetch,
                                   std::move(buffers));
          },
          "paths"_a, "labels"_a, "keys"_a, "options"_a, "batch_size"_a, "prefetch"_a,
          "buffers"_a)
      .def("next", [](BatchStream& s, const Options& o) { return next_batch(s, o); },
           "options"_a)
      .def("close", &BatchStream::close, nb::call_guard<nb::gil_scoped_release>());
  m.def(
      "set_worker_executable",
      [](const std::string& path) { set_worker_executable(path); }, "path"_a);
}

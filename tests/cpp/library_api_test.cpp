// The library API (imgprep/imgprep.h): configuration by the command's rules, whole jobs whose
// summary agrees with the files they wrote, and streams whose tensors are the rows of those files,
// in input order, for every CPU engine. The files are read back here with a small .npy reader and
// nlohmann::json, independent of the writers.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "imgprep/imgprep.h"
#include "test_support.h"

namespace imgprep {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

std::string usage_error(const std::string& preset, const std::vector<Override>& overrides,
                        ConfigFor use = ConfigFor::run) {
  try {
    resolve_config(preset, overrides, use);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(ResolveConfig, PresetThenOverrides) {
  const Options o = resolve_config("imagenet", {{"resize", "shorter:300"}, {"io_threads", "3"}});
  EXPECT_EQ(to_string(o.resize), "shorter:300");           // the override
  EXPECT_EQ(to_string(o.crop), "center:224x224");          // the preset
  EXPECT_FLOAT_EQ(o.mean[0], 0.485f);                      // the preset
  EXPECT_EQ(o.io_threads, 3);                              // "io_threads" names --io-threads
  EXPECT_EQ(o.dtype, DType::float32);                      // the default
  EXPECT_EQ(o.preset, "imagenet");
  EXPECT_TRUE(o.input.empty());
}

TEST(ResolveConfig, AppliesInTheCommandsOrderAndTheLastValueWins) {
  // --no-upscale modifies --resize, whichever comes first.
  const Options o = resolve_config(
      "", {{"no-upscale", ""}, {"resize", "shorter:64"}, {"crop", "center:32"}, {"batch", "7"},
           {"batch", "9"}});
  EXPECT_TRUE(o.resize.no_upscale);
  EXPECT_EQ(o.batch, 9);
}

TEST(ResolveConfig, RefusesWithTheCommandsMessages) {
  EXPECT_EQ(usage_error("", {{"colour", "red"}}), "unknown setting 'colour'");
  EXPECT_EQ(usage_error("imagenet", {{"shard-size", "8"}}, ConfigFor::bench),
            "unknown setting 'shard-size'");
  EXPECT_EQ(usage_error("imagenet", {{"batch", "abc"}}), "--batch: expected a whole number, got 'abc'");
  EXPECT_EQ(usage_error("imagenet", {{"batch", "99999999999"}}),
            "--batch: expected a whole number, got '99999999999'");
  EXPECT_EQ(usage_error("imagenet", {{"timeout-per-image", "soon"}}),
            "--timeout-per-image: expected a number, got 'soon'");
  EXPECT_EQ(usage_error("imagenet", {{"max-pixels", "-1"}}), "--max-pixels must be at least 1, got -1");
  EXPECT_EQ(usage_error("imagenet", {{"antialias", "yes"}}), "--antialias: expected on or off");
  EXPECT_EQ(usage_error("imagenet", {{"strip", "maybe"}}),
            "--strip takes no value (true or false), got 'maybe'");
  EXPECT_EQ(usage_error("nope", {}), "unknown preset 'nope' (expected imagenet, clip or yolo)");
}

TEST(ResolveConfig, RefusesOnlyExplicitSettingsTheJobWouldIgnore) {
  EXPECT_EQ(usage_error("imagenet", {{"quality", "50"}}),
            "--quality does not apply to --format npy (it writes no image files)");
  EXPECT_EQ(usage_error("imagenet", {{"format", "images"}, {"mean", "0.5"}}),
            "--mean does not apply to --format images (image files hold 8-bit RGB pixels)");
  EXPECT_EQ(usage_error("imagenet", {{"workers", "2"}}),
            "--workers does not apply without --cpu-engine procs");
  EXPECT_EQ(usage_error("imagenet", {{"engine", "cpu"}, {"batch", "8"}}),
            "--batch does not apply to --engine cpu");
  // The preset's mean is no explicit setting; a flag set to false is not given at all.
  EXPECT_NO_THROW(resolve_config("imagenet", {{"format", "images"}, {"strip", "false"}}));
  EXPECT_FALSE(resolve_config("imagenet", {{"format", "images"}}).strip);
  EXPECT_TRUE(resolve_config("imagenet", {{"format", "images"}, {"strip", "true"}}).strip);
  // bench runs every engine: --workers and --batch apply there.
  EXPECT_NO_THROW(resolve_config("imagenet", {{"workers", "2"}, {"batch", "8"}}, ConfigFor::bench));
}

TEST(ResolveConfig, EverySettingIsReachableByItsNames) {
  for (const Setting& s : settings()) {
    std::string underscored = s.name;
    std::replace(underscored.begin(), underscored.end(), '-', '_');
    // Known (whatever the value does), never "unknown setting".
    EXPECT_EQ(usage_error("imagenet", {{underscored, "x"}}).find("unknown setting"),
              std::string::npos)
        << s.name;
  }
}

// A .npy file's array bytes (after the header).
std::vector<uint8_t> npy_data(const fs::path& file) {
  const std::vector<uint8_t> bytes = test::read_bytes(file);
  EXPECT_GE(bytes.size(), 10u);
  EXPECT_EQ(std::memcmp(bytes.data(), "\x93NUMPY\x01\x00", 8), 0);
  const size_t header = 10 + (bytes[8] | (bytes[9] << 8));
  return {bytes.begin() + static_cast<long>(header), bytes.end()};
}

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

std::vector<nlohmann::json> manifest_rows(const fs::path& out) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(out / "manifest.jsonl");
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

Options job_options(const fs::path& input, const fs::path& output) {
  Options o = resolve_config("imagenet", {{"engine", "cpu"}, {"threads", "2"}, {"quiet", ""}});
  o.input = input;
  o.output = output;
  return o;
}

TEST(RunJob, SummaryAgreesWithTheFilesItWrote) {
  TempDir tmp;
  const Options o = job_options(test::source_dir() / "datasets/sample-bad", tmp.path() / "out");
  const JobSummary s = run_job(o);
  const std::vector<nlohmann::json> rows = manifest_rows(o.output);
  const int64_t failed_rows = std::count_if(rows.begin(), rows.end(), [](const auto& r) {
    return r["status"] == "failed";
  });
  ASSERT_GT(failed_rows, 0);
  EXPECT_EQ(s.inputs, static_cast<int64_t>(rows.size()));
  EXPECT_EQ(s.failed, failed_rows);
  EXPECT_EQ(s.failed_in_all, failed_rows);
  EXPECT_EQ(s.processed, static_cast<int64_t>(rows.size()) - failed_rows);
  EXPECT_EQ(s.exit_code(), 1);
  EXPECT_EQ(s.interrupted, 0);
  EXPECT_FALSE(s.already_complete);
  EXPECT_EQ(s.manifest, o.output / "manifest.jsonl");
  EXPECT_NE(s.engine.find("engine cpu (tbb"), std::string::npos) << s.engine;
  const nlohmann::json meta = read_json(o.output / "meta.json");
  EXPECT_TRUE(meta["complete"].get<bool>());
  EXPECT_EQ(meta["failed"].get<int64_t>(), s.failed);
  EXPECT_EQ(meta["skipped"].get<size_t>(), s.skipped);
  EXPECT_EQ(meta["output"], s.output);

  // Again with resume: nothing to do, the earlier failures still count.
  Options again = o;
  again.resume = true;
  const JobSummary done = run_job(again);
  EXPECT_TRUE(done.already_complete);
  EXPECT_EQ(done.failed_in_all, failed_rows);
  EXPECT_EQ(done.exit_code(), 1);
}

TEST(RunJob, StoppedBeforeItStartsThenResumedEndsWithTheSameBytes) {
  TempDir tmp;
  const fs::path sample = test::source_dir() / "datasets/sample";
  Options whole = job_options(sample, tmp.path() / "whole");
  whole.shard_size = 4;
  ASSERT_EQ(run_job(whole).exit_code(), 0);

  Options part = whole;
  part.output = tmp.path() / "part";
  JobStop stop;
  stop.request();
  const JobSummary stopped = run_job(part, &stop);
  EXPECT_EQ(stopped.interrupted, JobStop::kByCaller);
  EXPECT_EQ(stopped.exit_code(), 1);
  EXPECT_FALSE(read_json(part.output / "meta.json")["complete"].get<bool>());

  part.resume = true;
  const JobSummary resumed = run_job(part);
  EXPECT_EQ(resumed.exit_code(), 0);
  for (const auto& entry : fs::directory_iterator(whole.output)) {
    if (entry.path().filename() == "meta.json") continue;
    EXPECT_EQ(test::read_bytes(entry.path()), test::read_bytes(part.output / entry.path().filename()))
        << entry.path().filename();
  }
}

TEST(RunJob, RefusesADryRun) {
  TempDir tmp;
  Options o = job_options(test::source_dir() / "datasets/sample", tmp.path() / "out");
  o.dry_run = true;
  EXPECT_THROW(run_job(o), UsageError);
  EXPECT_FALSE(fs::exists(o.output));
  const JobPlan plan = plan_job(o);
  EXPECT_EQ(plan.inputs.items.size(), 17u);
  EXPECT_EQ(plan.engine.kind, EngineKind::tbb);
}

struct Streamed {
  std::vector<size_t> order;
  std::map<size_t, std::vector<uint8_t>> tensors;
  std::map<size_t, std::string> errors;
};

Streamed stream_all(const std::vector<InputItem>& items, const Options& o) {
  Streamed got;
  const StreamSummary s = process_images(items, o, [&](const ProcessedImage& image) {
    got.order.push_back(image.index);
    EXPECT_EQ(image.input, &items[image.index]);
    if (image.ok()) {
      EXPECT_EQ(image.width, 224);
      EXPECT_EQ(image.height, 224);
      EXPECT_GT(image.source_width, 0);
      got.tensors[image.index].assign(image.data.begin(), image.data.end());
    } else {
      EXPECT_TRUE(image.data.empty());
      got.errors[image.index] = std::string(image.error);
    }
    return true;
  });
  EXPECT_EQ(s.processed + s.failed, static_cast<int64_t>(items.size()));
  EXPECT_EQ(s.failed, static_cast<int64_t>(got.errors.size()));
  EXPECT_FALSE(s.stopped);
  return got;
}

// The stream's tensors are the rows run_job wrote, and its errors the manifest's, for each
// input in input order, whichever engine runs it.
TEST(ProcessImages, GivesTheRowsOfAWholeJobInInputOrderOnEveryCpuEngine) {
  TempDir tmp;
  for (const char* data : {"datasets/sample-bad", "datasets/sample"}) {
    SCOPED_TRACE(data);
    const Options o = job_options(test::source_dir() / data, tmp.path() / fs::path(data).filename());
    ASSERT_LE(run_job(o).exit_code(), 1);
    const std::vector<nlohmann::json> rows = manifest_rows(o.output);
    const std::vector<uint8_t> shard = npy_data(o.output / "shard-00000.npy");
    const size_t row_bytes = 3 * 224 * 224 * sizeof(float);

    const JobPlan plan = plan_job(o);
    ASSERT_EQ(plan.inputs.items.size(), rows.size());
    for (EngineKind kind : {EngineKind::tbb, EngineKind::serial, EngineKind::threads}) {
      SCOPED_TRACE(to_string(kind));
      Options streaming = o;
      streaming.cpu_engine = kind;
      const Streamed got = stream_all(plan.inputs.items, streaming);
      std::vector<size_t> in_order(rows.size());
      for (size_t i = 0; i < in_order.size(); ++i) in_order[i] = i;
      EXPECT_EQ(got.order, in_order);
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i]["status"] == "ok") {
          const size_t row = rows[i]["row"].get<size_t>();
          ASSERT_EQ(got.tensors.count(i), 1u) << i;
          EXPECT_TRUE(std::equal(got.tensors.at(i).begin(), got.tensors.at(i).end(),
                                 shard.begin() + static_cast<long>(row * row_bytes)))
              << rows[i]["path"];
          EXPECT_EQ(got.tensors.at(i).size(), row_bytes);
        } else {
          EXPECT_EQ(got.errors.at(i), rows[i]["error"].get<std::string>()) << rows[i]["path"];
        }
      }
    }
  }
}

TEST(ProcessImages, StopsWhenTheCallbackSaysSo) {
  const Options o = job_options(test::source_dir() / "datasets/sample", "");
  const JobPlan plan = plan_job(o);
  std::vector<size_t> seen;
  const StreamSummary s = process_images(plan.inputs.items, o, [&](const ProcessedImage& image) {
    seen.push_back(image.index);
    return seen.size() < 3;
  });
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(s.stopped);
}

TEST(ProcessImages, ThrowsForOptionsNoJobCouldRun) {
  Options o = job_options(test::source_dir() / "datasets/sample", "");
  o.threads = -1;
  EXPECT_THROW(process_images({}, o, [](const ProcessedImage&) { return true; }), UsageError);
}

TEST(ImageStream, PullsTheSameImagesAsTheCallbackInOrder) {
  const Options o = job_options(test::source_dir() / "datasets/sample-bad", "");
  const std::vector<InputItem> items = plan_job(o).inputs.items;
  const Streamed pushed = stream_all(items, o);
  ImageStream stream(items, o, 2);
  size_t expected = 0;
  while (std::optional<StreamedImage> image = stream.next()) {
    EXPECT_EQ(image->index, expected);
    if (image->ok())
      EXPECT_EQ(image->data, Bytes(pushed.tensors.at(expected).begin(),
                                   pushed.tensors.at(expected).end()));
    else
      EXPECT_EQ(image->error, pushed.errors.at(expected));
    ++expected;
  }
  EXPECT_EQ(expected, items.size());
  EXPECT_FALSE(stream.next().has_value());  // stays at the end
}

TEST(ImageStream, ClosingEarlyStopsTheEngineWithoutAHang) {
  const Options o = job_options(test::source_dir() / "datasets/sample", "");
  const std::vector<InputItem> items = plan_job(o).inputs.items;
  for (int taken : {0, 1, 5}) {
    ImageStream stream(items, o, 1);
    for (int i = 0; i < taken; ++i) ASSERT_TRUE(stream.next().has_value());
    stream.close();
    stream.close();  // idempotent; the destructor closes once more
  }
}

TEST(ImageStream, RethrowsWhatEndedTheRun) {
  Options o = job_options(test::source_dir() / "datasets/sample", "");
  o.in_flight = -5;  // refused when the stream starts its run
  ImageStream stream({}, o);
  EXPECT_THROW(stream.next(), UsageError);
}

}  // namespace
}  // namespace imgprep

"""The GPU engine's host-side orchestration, without a GPU.

`imgprep-fake-gpu` is the imgprep command with pipeline/engines/gpu/gpu_engine.cpp linked against
fake_cuda_runtime.cpp (host memory; the kernel's per-thread body run on the CPU for every thread
of the real launch shape) instead of libcudart. Its kernel does the CPU engine's arithmetic
(tests/cpp/gpu_maths_test.cpp holds the two equal), so everything the GPU engine writes must be
byte-identical to what the real imgprep writes with --engine cpu: any difference is the engine's
batching, ring, ordering or delivery. The real kernel is tested on a GPU by
tests/gpu_kernel/gpu_kernel_test.cpp and tests/python/test_gpu_parity.py.

Every comparison runs twice: with the fake's stream work deferred until the host must see it
(the default: until the engine waits on the batch's event), and run at once
(IMGPREP_FAKE_CUDA_IMMEDIATE=1): the latest and the earliest a GPU may run it.

Every run of the fake binary writes the fake's report (IMGPREP_FAKE_CUDA_REPORT), and `run` holds
each to what the engine must never do on a real GPU: wait on an event by spinning a core
(spin_waits), or copy asynchronously from or to pageable memory (which the runtime makes
synchronous). Copies in the wrong direction, launches beyond CUDA's limits and work on another
thread's device fail the call in the fake itself.

Environment (set by CTest; the fallbacks are the default build tree):
  IMGPREP             the real imgprep binary (build/bin/imgprep)
  IMGPREP_FAKE_GPU    imgprep-fake-gpu (build/tests/gpu_fake/imgprep-fake-gpu)
  IMGPREP_SAMPLE      datasets/sample
  IMGPREP_SAMPLE_BAD  datasets/sample-bad
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from conftest import IMGPREP, REPO, SAMPLE, files_under, npy_crc, run_imgprep  # noqa: E402

FAKE_GPU = Path(os.environ.get("IMGPREP_FAKE_GPU", REPO / "build/tests/gpu_fake/imgprep-fake-gpu"))
SAMPLE_BAD = Path(os.environ.get("IMGPREP_SAMPLE_BAD", REPO / "datasets/sample-bad"))

ENGINE_LINE = "imgprep: engine gpu (fake CUDA device, device 0)"
MODES = {"deferred": {}, "immediate": {"IMGPREP_FAKE_CUDA_IMMEDIATE": "1"}}
FAKE_VARIABLES = ("IMGPREP_FAKE_CUDA_FAIL_AFTER", "IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER",
                  "IMGPREP_FAKE_CUDA_FAIL_LAUNCH_AFTER", "IMGPREP_FAKE_CUDA_DEFER",
                  "IMGPREP_FAKE_CUDA_IMMEDIATE", "IMGPREP_FAKE_CUDA_DEVICES",
                  "IMGPREP_FAKE_CUDA_CC", "IMGPREP_FAKE_CUDA_UNAVAILABLE",
                  "IMGPREP_FAKE_CUDA_NO_KERNEL_IMAGE", "IMGPREP_FAKE_CUDA_REPORT")
COPY_DIRECTIONS = {"HostToDevice", "DeviceToHost"}  # all the engine's copies


def run(binary, inp, out, *args, env=None, expect=0, timeout=120, quiet=True):
    """`BINARY run INP -o OUT ARGS` (-q unless the engine line and the summary are read), with
    the fake's variables cleared, then `env` added. A run of the fake binary gets its report,
    checked by check_report, as `.report` (None when it made nothing on a device)."""
    env = fake_env(env or {})
    report = None
    if Path(binary) == FAKE_GPU:
        report = Path(f"{out}-fake-cuda.json")
        env["IMGPREP_FAKE_CUDA_REPORT"] = str(report)
    result = run_imgprep(inp, out, *args, expect=expect, binary=binary, timeout=timeout,
                         quiet=quiet, env=env)
    result.report = check_report(report) if report and report.exists() else None
    return result


def check_report(path):
    """The fake's report at path, held to what holds for every run: no wait that spins a core,
    no asynchronous copy of pageable memory, only host-to-device and device-to-host copies."""
    report = json.loads(path.read_text())
    assert report["spin_waits"]["count"] == 0, \
        f"cudaEventSynchronize on events without cudaEventBlockingSync: {report}"
    assert report["pageable_async_copies"]["count"] == 0, report
    assert set(report["memcpy_async"]) <= COPY_DIRECTIONS, report
    return report


def fake_bench(directory, *args, env=None, report_path=None, timeout=300):
    """`imgprep-fake-gpu bench DIRECTORY ARGS`, with the fake's report at report_path (checked)
    when given. Returns (process, report)."""
    env = fake_env(env or {})
    if report_path:
        env["IMGPREP_FAKE_CUDA_REPORT"] = str(report_path)
    proc = subprocess.run([str(FAKE_GPU), "bench", str(directory), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc, check_report(report_path) if report_path else None


def without_gpu_options(args):
    """args less `--batch N` and `--device N`, which the CPU engine refuses as not applying to
    it."""
    args = list(args)
    for option in ("--batch", "--device"):
        if option in args:
            at = args.index(option)
            del args[at:at + 2]
    return args


def fake_env(extra):
    """This process's environment without the fake's variables, then extra."""
    return {k: v for k, v in os.environ.items() if k not in FAKE_VARIABLES} | extra


def comparable_meta(meta):
    """meta.json less what names the engine, the batch, the device and the output folder."""
    meta = json.loads(json.dumps(meta))
    meta.pop("engine")
    for key in ("engine", "batch", "device", "output"):
        meta["config"].pop(key)
    return meta


def assert_same_outputs(cpu, gpu, engine_line=ENGINE_LINE):
    """Every file byte-identical (shards, labels, manifest, classes, images), meta.json equal but
    for the engine, which is engine_line."""
    assert files_under(gpu.out) == files_under(cpu.out)
    for name in files_under(cpu.out):
        if name != "meta.json":
            assert (gpu.out / name).read_bytes() == (cpu.out / name).read_bytes(), name
    assert comparable_meta(gpu.meta) == comparable_meta(cpu.meta)
    assert gpu.meta["engine"] == engine_line.removeprefix("imgprep: ")
    assert gpu.stdout.splitlines()[0] == engine_line, gpu.stdout


def cpu_and_gpu(tmp_path, inp, *args, mode="deferred", expect=0, env=None):
    cpu = run(IMGPREP, inp, tmp_path / "cpu", *without_gpu_options(args), "--engine", "cpu",
              expect=expect)
    gpu = run(FAKE_GPU, inp, tmp_path / "gpu", *args, "--engine", "gpu",
              env={**MODES[mode], **(env or {})}, expect=expect, quiet=False)
    return cpu, gpu


@pytest.fixture(params=list(MODES))
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory):
    """Good images and bad ones interleaved in one flat folder (sorted by name): a failure first
    and last, three failures in a row (one whole batch of 3), a skipped non-image."""
    bad = {"empty": SAMPLE_BAD / "empty.png", "text": SAMPLE_BAD / "not-an-image.jpg",
           "truncated": SAMPLE_BAD / "truncated.jpg"}
    files = [
        ("00-bad-empty.png", bad["empty"]),
        ("01-chelsea.jpg", SAMPLE / "animals/chelsea.jpg"),
        ("02-coffee-small.bmp", SAMPLE / "objects/coffee-small.bmp"),
        ("03-bad-text.jpg", bad["text"]),
        ("04-bad-truncated.jpg", bad["truncated"]),
        ("05-bad-empty.png", bad["empty"]),
        ("06-astronaut.jpg", SAMPLE / "space/astronaut.jpg"),
        ("07-good-1.jpg", SAMPLE_BAD / "good-1.jpg"),
        ("08-bad-truncated.jpg", bad["truncated"]),
        ("09-gravel.png", SAMPLE / "textures/gravel.png"),
        ("10-clock-gray.jpg", SAMPLE / "objects/clock-gray.jpg"),
        ("11-notes.txt", SAMPLE_BAD / "notes.txt"),
        ("12-bad-text.jpg", bad["text"]),
    ]
    folder = tmp_path_factory.mktemp("mixed")
    for name, source in files:
        shutil.copy(source, folder / name)
    return folder


# ---------------------------------------------------------------------------------------------
# Byte-identical to the CPU engine
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 3, 5, 64])
def test_sample_imagenet(tmp_path, mode, batch, threads):
    """17 images: batches of 1 and 3 wrap the ring of 3 slots several times, 5 leaves a partial
    last batch of 2, 64 is one partial batch."""
    cpu, gpu = cpu_and_gpu(tmp_path, SAMPLE, "--preset", "imagenet", "--threads", threads,
                           "--batch", batch, mode=mode)
    assert len(cpu.manifest) == 17
    assert_same_outputs(cpu, gpu)
    launches = gpu.report["launches"]["count"]
    assert launches == -(-17 // batch), gpu.report
    if mode == "deferred" and launches > 1:
        # The ring keeps batches in flight: a later batch is queued before an earlier one ran.
        assert gpu.report["max_queued_launches_all_streams"] >= 2, gpu.report


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 64])
def test_failed_inputs_pass_through_in_order(tmp_path, mixed_dir, mode, batch):
    cpu, gpu = cpu_and_gpu(tmp_path, mixed_dir, "--preset", "imagenet", "--threads", 2,
                           "--batch", batch, mode=mode, expect=1)
    statuses = [r["status"] for r in cpu.manifest]
    assert statuses.count("failed") == 6 and statuses.count("ok") == 6, cpu.manifest
    assert_same_outputs(cpu, gpu)


@pytest.mark.parametrize("batch", [1, 4, 64])
def test_format_images(tmp_path, mode, batch):
    """--format images: the encoder runs after the GPU stage, on the GPU's tensors."""
    cpu, gpu = cpu_and_gpu(tmp_path, SAMPLE, "--preset", "imagenet", "--format", "images",
                           "--batch", batch, mode=mode)
    assert len(list(gpu.out.rglob("*.jpg"))) == 17
    assert_same_outputs(cpu, gpu)


def test_format_images_variable_sizes_and_failures(tmp_path, mixed_dir, mode):
    """Outputs of different sizes in one batch (no crop), with failed inputs between them."""
    cpu, gpu = cpu_and_gpu(tmp_path, mixed_dir, "--resize", "shorter:40", "--format", "images",
                           "--image-format", "png", "--batch", 3, mode=mode, expect=1)
    assert_same_outputs(cpu, gpu)


@pytest.mark.parametrize("args", [["--preset", "imagenet", "--format", "wds"],
                                  ["--resize", "shorter:40", "--format", "wds-images"]])
def test_format_wds(tmp_path, mixed_dir, mode, args):
    """WebDataset tars: the GPU's tensors (or the images encoded from them) in the same samples,
    with failed inputs between them."""
    cpu, gpu = cpu_and_gpu(tmp_path, mixed_dir, *args, "--shard-size", 4, "--batch", 3,
                           mode=mode, expect=1)
    assert len(list(gpu.out.glob("shard-*.tar"))) == 2
    assert_same_outputs(cpu, gpu)


VARIANTS = [
    ["--preset", "imagenet", "--dtype", "uint8"],
    ["--preset", "imagenet", "--dtype", "float16"],
    ["--preset", "imagenet", "--layout", "nhwc"],
    ["--preset", "imagenet", "--channels", "bgr"],
    ["--preset", "imagenet", "--dtype", "uint8", "--layout", "nhwc", "--channels", "bgr"],
    ["--preset", "clip", "--layout", "nhwc", "--dtype", "float16"],
    ["--preset", "yolo", "--channels", "bgr"],
    ["--resize", "97x61", "--interp", "nearest", "--dtype", "uint8"],
    ["--resize", "shorter:40", "--crop", "center:33x31", "--interp", "area", "--antialias", "off"],
    ["--resize", "letterbox:50x20", "--interp", "lanczos", "--dtype", "float16"],
    ["--resize", "300x300", "--interp", "cubic", "--antialias", "off", "--dtype", "uint8"],
]


@pytest.mark.parametrize("args", VARIANTS, ids=[" ".join(v) for v in VARIANTS])
def test_output_variants(tmp_path, mode, args):
    cpu, gpu = cpu_and_gpu(tmp_path, SAMPLE, *args, "--batch", 4, mode=mode)
    assert_same_outputs(cpu, gpu)


def test_few_slots_and_small_shards(tmp_path, mode):
    """The fewest job slots (--in-flight 1) and shards split across batches."""
    cpu, gpu = cpu_and_gpu(tmp_path, SAMPLE, "--preset", "imagenet", "--in-flight", 1,
                           "--io-threads", 1, "--shard-size", 4, "--batch", 3, mode=mode)
    assert len(list(gpu.out.glob("shard-*.npy"))) == 5
    assert_same_outputs(cpu, gpu)


def test_summary_names_the_fake_device(tmp_path):
    gpu = run(FAKE_GPU, SAMPLE, tmp_path / "gpu", "--preset", "imagenet", "--engine", "gpu",
              quiet=False)
    assert gpu.stdout.splitlines()[0] == ENGINE_LINE
    assert sum(line.startswith("imgprep: engine ") for line in gpu.stdout.splitlines()) == 1
    auto = run(FAKE_GPU, SAMPLE, tmp_path / "auto", "--preset", "imagenet", quiet=False)
    assert auto.stdout.splitlines()[0] == ENGINE_LINE


def test_missing_device_is_a_usage_error(tmp_path):
    gpu = run(FAKE_GPU, SAMPLE, tmp_path / "gpu", "--preset", "imagenet", "--engine", "gpu",
              "--device", 1, expect=2)
    assert gpu.stderr == "imgprep: --engine gpu: no CUDA device 1 (1 present)\n"
    assert not (gpu.out / "manifest.jsonl").exists()


# ---------------------------------------------------------------------------------------------
# Stopping early
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 3, 64])
def test_max_errors_stops_with_a_consistent_manifest(tmp_path, mixed_dir, mode, batch):
    """--max-errors 0: exit 1 after the first failure. How many later inputs were already under
    way is timing, so the manifest is held to what must hold: rows in input order, everything up
    to the first failure, each row as the full CPU run wrote it, shards holding the ok rows."""
    inputs = tmp_path / "inputs"
    shutil.copytree(mixed_dir, inputs)
    (inputs / "00-bad-empty.png").unlink()  # the first failure comes after two images
    full = run(IMGPREP, inputs, tmp_path / "full", "--preset", "imagenet", "--engine", "cpu",
               "--dtype", "uint8", expect=1)
    order = [r["path"] for r in full.manifest]
    first_failure = next(i for i, r in enumerate(full.manifest) if r["status"] == "failed")
    assert first_failure == 2

    gpu = run(FAKE_GPU, inputs, tmp_path / "gpu", "--preset", "imagenet", "--engine", "gpu",
              "--dtype", "uint8", "--max-errors", 0, "--batch", batch, env=MODES[mode], expect=1,
              quiet=False)
    assert "stopped early" in gpu.stdout
    rows = gpu.manifest
    positions = [order.index(r["path"]) for r in rows]
    assert positions == sorted(set(positions)), rows
    assert positions[:first_failure + 1] == list(range(first_failure + 1)), rows

    full_shard = np.load(full.out / "shard-00000.npy")
    gpu_shard = np.load(gpu.out / "shard-00000.npy")
    ok = [r for r in rows if r["status"] == "ok"]
    assert gpu_shard.shape[0] == len(ok)
    for i, row in enumerate(ok):
        expected = full.manifest[order.index(row["path"])]
        assert row == {**expected, "row": i}
        assert np.array_equal(gpu_shard[i], full_shard[expected["row"]]), row["path"]
    for row in rows:
        if row["status"] == "failed":
            assert row == full.manifest[order.index(row["path"])]
    assert gpu.meta["failed"] == sum(r["status"] == "failed" for r in rows)
    assert not list(gpu.out.rglob("*.part"))


# ---------------------------------------------------------------------------------------------
# CUDA errors
# ---------------------------------------------------------------------------------------------

def run_with_fault(tmp_path, mode, fault, count, *args, inp=SAMPLE):
    """The GPU engine with the fake's `fault` set to fail call `count`: exit 2 with one line that
    names a GPU error, no temporary file left, nothing that says the run finished."""
    result = run(FAKE_GPU, inp, tmp_path / "gpu", "--preset", "imagenet", "--engine", "gpu", *args,
                 env={**MODES[mode], fault: str(count)}, expect=2, timeout=60)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: GPU error: "), result
    assert "unspecified launch failure" in lines[0], result
    assert not list(result.out.rglob("*.part")), list(result.out.rglob("*"))
    meta = result.out / "meta.json"
    assert not meta.exists() or json.loads(meta.read_text()).get("complete") is False
    return result


@pytest.mark.parametrize("batch", [1, 3, 5, 64])
def test_copy_failure_exits_2(tmp_path, mode, batch):
    """The 2nd cudaMemcpyAsync (the first batch's copy back) fails: exit 2, one line, no hang."""
    gpu = run_with_fault(tmp_path, mode, "IMGPREP_FAKE_CUDA_FAIL_AFTER", 2, "--batch", batch)
    assert "copy from the GPU" in gpu.stderr


@pytest.mark.parametrize("fail_after", [1, 3, 7, 12])
def test_copy_failure_anywhere_exits_2(tmp_path, mode, fail_after):
    """With batches of 1 over the sample, the 7th and 12th copies fail with the ring full."""
    run_with_fault(tmp_path, mode, "IMGPREP_FAKE_CUDA_FAIL_AFTER", fail_after,
                   "--batch", 1, "--threads", 2)


# Faults that show while batches run: when the engine waits for a batch (cudaEventSynchronize),
# while the ring turns or while it drains at the end (with batches of 5, waits 2 to 4 are the
# drain), and when a kernel is launched.
@pytest.mark.parametrize("fault,batch,fail_at,message", [
    ("IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER", 5, 1, "GPU batch"),
    ("IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER", 5, 2, "GPU batch"),
    ("IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER", 5, 4, "GPU batch"),
    ("IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER", 1, 9, "GPU batch"),
    ("IMGPREP_FAKE_CUDA_FAIL_SYNC_AFTER", 64, 1, "GPU batch"),
    ("IMGPREP_FAKE_CUDA_FAIL_LAUNCH_AFTER", 5, 1, "kernel launch"),
    ("IMGPREP_FAKE_CUDA_FAIL_LAUNCH_AFTER", 1, 6, "kernel launch"),
])
def test_failure_while_batches_run_exits_2(tmp_path, mode, fault, batch, fail_at, message):
    gpu = run_with_fault(tmp_path, mode, fault, fail_at, "--batch", batch)
    assert message in gpu.stderr


def test_failure_with_failed_inputs_exits_2(tmp_path, mixed_dir, mode):
    run_with_fault(tmp_path, mode, "IMGPREP_FAKE_CUDA_FAIL_AFTER", 4, "--batch", 2, inp=mixed_dir)


def test_bench_gpu_tier_writes_what_the_cpu_engine_writes(mode, tmp_path):
    """`imgprep bench`'s gpu tier runs the GPU engine: its outputs' CRC-32 equals the one
    recomputed here from the real imgprep's shards, and it reports the GPU stage."""
    reference = run(IMGPREP, SAMPLE, tmp_path / "cpu", "--preset", "imagenet", "--engine", "cpu")
    crc = npy_crc(reference)
    report_path = tmp_path / "bench.json"
    fake_bench(SAMPLE, "--preset", "imagenet", "--tiers", "tbb,gpu", "--repeat", "1", "--batch",
               "4", "--json", report_path, env=MODES[mode],
               report_path=tmp_path / "fake-cuda.json")
    tiers = {t["tier"]: t for t in json.loads(report_path.read_text())["tiers"]}
    gpu = tiers["gpu"]
    assert gpu["available"] and gpu["device"] == "fake CUDA device, device 0"
    assert gpu["output"]["crc32"] == crc == tiers["tbb"]["output"]["crc32"]
    assert gpu["output"]["equal"] and gpu["ok"] == len(reference.manifest)
    stage = {s["stage"]: s for s in gpu["stages"]}
    assert stage["gpu"]["threads"] == 1 and stage["gpu"]["busy_s"] > 0
    assert stage["gpu"]["avg_queue"] is not None


# ---------------------------------------------------------------------------------------------
# What a real GPU enforces: launch limits, the current device, kernel images, contexts, waits
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """Three images of a few pixels each."""
    from PIL import Image
    folder = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(7)
    for name, (w, h) in {"a.png": (3, 2), "b.png": (2, 5), "c.png": (4, 4)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
    return folder


# Outputs as tall as --resize allows (sides up to 65535): the kernel's launch shape over them
# (resample_launch_shape), run block by block and thread by thread as a GPU would, with CUDA's
# grid limits enforced by the fake.
@pytest.mark.parametrize("size,dtype,batch", [("1x65535", "uint8", 2), ("2x65535", "float16", 3)])
def test_tall_outputs(tmp_path, tiny_dir, mode, size, dtype, batch):
    cpu, gpu = cpu_and_gpu(tmp_path, tiny_dir, "--resize", size, "--dtype", dtype,
                           "--batch", batch, mode=mode)
    assert cpu.array().shape == (3, 3, 65535, int(size.split("x")[0]))
    assert_same_outputs(cpu, gpu)


@pytest.fixture(scope="module")
def tall_dir(tmp_path_factory):
    """A 2 x 300,000 PNG: its shorter side resized to 4 makes a 4 x 600,000 output, whose
    ceil(600000 / 8) = 75,000 rows of blocks exceed CUDA's grid.y limit of 65,535."""
    from PIL import Image
    folder = tmp_path_factory.mktemp("tall")
    pixels = (np.arange(300000 * 2 * 3) % 251).astype(np.uint8).reshape(300000, 2, 3)
    Image.fromarray(pixels).save(folder / "tall.png")
    return folder


def test_output_taller_than_the_grid(tmp_path, tall_dir, mode):
    """Resized files of any height (--format images has no 65,535 side limit): the kernel loops
    over the rows its clamped grid does not cover."""
    cpu, gpu = cpu_and_gpu(tmp_path, tall_dir, "--resize", "shorter:4", "--format", "images",
                           "--image-format", "png", "--batch", 2, mode=mode)
    from PIL import Image
    assert Image.open(cpu.out / "tall.png").size == (4, 600000)
    assert_same_outputs(cpu, gpu)


def test_second_device(tmp_path):
    """--device 1 of 2: everything the engine does on the GPU happens on device 1 (a thread
    that did not make it current would work on device 0, or fail)."""
    cpu, gpu = cpu_and_gpu(tmp_path, SAMPLE, "--preset", "imagenet", "--dtype", "uint8",
                           "--batch", 5, "--device", 1, env={"IMGPREP_FAKE_CUDA_DEVICES": "2"})
    assert_same_outputs(cpu, gpu, "imgprep: engine gpu (fake CUDA device, device 1)")
    report = gpu.report
    for what in ("device_allocations", "pinned_allocations", "streams", "events", "launches",
                 "event_syncs"):
        assert report[what]["count"] > 0 and report[what]["devices"] == [1], (what, report)
    assert set(report["memcpy_async"]) == COPY_DIRECTIONS, report
    for direction, tally in report["memcpy_async"].items():
        assert tally["devices"] == [1], (direction, report)


def test_device_beyond_the_count_is_a_usage_error(tmp_path):
    gpu = run(FAKE_GPU, SAMPLE, tmp_path / "gpu", "--preset", "imagenet", "--engine", "gpu",
              "--device", 2, env={"IMGPREP_FAKE_CUDA_DEVICES": "2"}, expect=2)
    assert gpu.stderr == "imgprep: --engine gpu: no CUDA device 2 (2 present)\n"
    assert not (gpu.out / "manifest.jsonl").exists()


# A device the engine cannot use although it is present: the kernel has no code for it, or its
# context cannot be made (in use by an exclusive-process job, or prohibited). The probe finds out
# before the run: auto falls back to the CPU engine saying why, gpu exits 2 with the reason.
UNUSABLE = {
    "no kernel image": ("IMGPREP_FAKE_CUDA_NO_KERNEL_IMAGE",
                        "no kernel image is available for execution on the device"),
    "unavailable": ("IMGPREP_FAKE_CUDA_UNAVAILABLE",
                    "CUDA-capable device(s) is/are busy or unavailable"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
def test_unusable_device_falls_back_to_the_cpu_engine(tmp_path, case):
    variable, reason = UNUSABLE[case]
    cpu = run(IMGPREP, SAMPLE, tmp_path / "cpu", "--preset", "imagenet", "--dtype", "uint8",
              "--engine", "cpu", quiet=False)
    auto = run(FAKE_GPU, SAMPLE, tmp_path / "auto", "--preset", "imagenet", "--dtype", "uint8",
               env={variable: "0"}, quiet=False)
    line = auto.stdout.splitlines()[0]
    assert line.startswith(cpu.stdout.splitlines()[0].removesuffix(")") + "; no GPU: "), line
    assert reason in line, line
    assert auto.meta["engine"] == line.removeprefix("imgprep: ")
    assert files_under(auto.out) == files_under(cpu.out)
    for name in files_under(cpu.out):
        if name != "meta.json":
            assert (auto.out / name).read_bytes() == (cpu.out / name).read_bytes(), name
    assert comparable_meta(auto.meta) == comparable_meta(cpu.meta)
    assert auto.report is None or auto.report["launches"]["count"] == 0, auto.report

    gpu = run(FAKE_GPU, SAMPLE, tmp_path / "gpu", "--preset", "imagenet", "--engine", "gpu",
              env={variable: "0"}, expect=2)
    lines = gpu.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: --engine gpu: "), gpu.stderr
    assert reason in lines[0], gpu.stderr
    assert not (gpu.out / "manifest.jsonl").exists()


def test_unusable_device_leaves_the_other_usable(tmp_path):
    """Device 0 unusable, device 1 fine: --device 1 runs on the GPU."""
    cpu, gpu = cpu_and_gpu(tmp_path, SAMPLE, "--preset", "imagenet", "--dtype", "uint8",
                           "--batch", 8, "--device", 1,
                           env={"IMGPREP_FAKE_CUDA_DEVICES": "2",
                                "IMGPREP_FAKE_CUDA_UNAVAILABLE": "0",
                                "IMGPREP_FAKE_CUDA_NO_KERNEL_IMAGE": "0"})
    assert_same_outputs(cpu, gpu, "imgprep: engine gpu (fake CUDA device, device 1)")


def test_bench_gpu_tier_allocates_once(tmp_path):
    """The bench's GPU tier makes its buffers once, not per run: 1 and 4 timed runs make the same
    device and pinned allocations."""
    counts = {}
    for repeat in (1, 4):
        _, report = fake_bench(SAMPLE, "--resize", "64x48", "--tiers", "gpu", "--warmup", 1,
                               "--repeat", repeat, "--batch", 4,
                               "--json", tmp_path / f"bench-{repeat}.json",
                               report_path=tmp_path / f"fake-cuda-{repeat}.json")
        counts[repeat] = {what: report[what]["count"]
                          for what in ("device_allocations", "pinned_allocations", "launches")}
    assert counts[4]["launches"] > counts[1]["launches"], counts
    for what in ("device_allocations", "pinned_allocations"):
        assert counts[1][what] == counts[4][what], counts

"""--cpu-engine procs: worker processes write exactly what the tbb engine writes, a worker that
crashes, aborts or hangs on an image fails only that image, and no worker outlives the run or
its parent.

The reference for every output byte is the tbb engine (whose pixels the other modules check
against Pillow, OpenCV and torchvision). Crashes come from `imgprep-faults`, the same sources
built with IMGPREP_FAULT_INJECTION: IMGPREP_FAULT="crash:SUBSTR,hang:SUBSTR,abort:SUBSTR" makes
its workers raise SIGSEGV, sleep forever or abort() on inputs whose path contains SUBSTR.
Worker processes are found through a unique variable in their environment, inherited from the
command, so they are found even after their parent is gone.

Environment (set by CTest): IMGPREP, IMGPREP_SAMPLE as in conftest.py, and
  IMGPREP_FAULTS  imgprep-faults (default: build/tests/faults/imgprep-faults; tests skip without)
"""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import IMGPREP, REPO, SAMPLE, Run, files_under, write_list

FAULTS = Path(os.environ.get("IMGPREP_FAULTS", REPO / "build/tests/faults/imgprep-faults"))
SAMPLE_BAD = SAMPLE.parent / "sample-bad"

CONFIGS = {
    "imagenet-float32": ["--preset", "imagenet"],
    "uint8-nhwc": ["--preset", "imagenet", "--dtype", "uint8", "--layout", "nhwc"],
    "images": ["--format", "images", "--resize", "shorter:96", "--image-format", "png"],
}
# Config keys that name the engine or the output folder, or follow from the worker count.
ENGINE_KEYS = ("output", "cpu_engine", "workers", "in_flight", "timeout_per_image")

CRASH, HANG, ABORT = "animals/chelsea.jpg", "objects/coffee.jpg", "space/rocket.jpg"
FAULT_SPEC = f"crash:/{CRASH},hang:/{HANG},abort:/{ABORT}"


def run(binary, inp, out, *args, env=None, expect=0):
    """`BINARY run INP -o OUT --engine cpu ARGS -q`, its environment tagged: (Run, tag)."""
    tag = uuid.uuid4().hex
    cmd = [str(binary), "run", str(inp), "-o", str(out), "--engine", "cpu", *map(str, args), "-q"]
    full_env = {**os.environ, **(env or {}), "IMGPREP_TEST_TAG": tag}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=full_env)
    result = Run(proc, out)
    if expect is not None:
        assert result.rc == expect, f"{' '.join(cmd)}\n{result}"
    return result, tag


def tagged_processes(tag):
    """Pids of the live processes whose environment has IMGPREP_TEST_TAG=tag (a zombie's
    environment reads empty)."""
    needle = f"IMGPREP_TEST_TAG={tag}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def parent_of(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def assert_same_outputs(reference, candidate):
    """Every file byte-identical, but meta.json, whose config and engine line name the engine."""
    assert files_under(candidate.out) == files_under(reference.out)
    for name in files_under(reference.out):
        if name != "meta.json":
            assert (candidate.out / name).read_bytes() == (reference.out / name).read_bytes(), name
    ref, cand = reference.meta, candidate.meta
    for meta in (ref, cand):
        for key in ENGINE_KEYS:
            meta["config"].pop(key)
    assert cand.pop("engine").startswith("engine cpu (procs: ")
    assert ref.pop("engine").startswith("engine cpu (tbb")
    assert cand == ref


@pytest.fixture(scope="module")
def tbb_runs(tmp_path_factory):
    """The tbb engine's outputs, one per config, made once; exit 0 on the sample set, 1 on the
    set with broken files."""
    cache = {}

    def get(name, inp=SAMPLE):
        if (name, inp) not in cache:
            out = tmp_path_factory.mktemp("tbb") / name
            cache[(name, inp)] = run(IMGPREP, inp, out, *CONFIGS[name],
                                     expect=1 if inp == SAMPLE_BAD else 0)[0]
        return cache[(name, inp)]

    return get


@pytest.fixture
def faults_binary():
    if not FAULTS.is_file():
        pytest.skip(f"no imgprep-faults at {FAULTS} (configure with -DIMGPREP_FAULT_INJECTION=ON)")
    return FAULTS


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_procs_writes_what_tbb_writes(tmp_path, tbb_runs, config, workers):
    reference = tbb_runs(config)
    procs, tag = run(IMGPREP, SAMPLE, tmp_path / "procs", *CONFIGS[config],
                     "--cpu-engine", "procs", "--workers", workers)
    assert_same_outputs(reference, procs)
    assert procs.meta["config"]["cpu_engine"] == "procs"
    assert procs.meta["config"]["workers"] == workers
    assert tagged_processes(tag) == []


def test_decode_failures_are_the_same_rows(tmp_path, tbb_runs):
    reference = tbb_runs("imagenet-float32", SAMPLE_BAD)
    procs, _ = run(IMGPREP, SAMPLE_BAD, tmp_path / "procs", *CONFIGS["imagenet-float32"],
                   "--cpu-engine", "procs", expect=1)
    assert_same_outputs(reference, procs)
    assert len(procs.failed()) == 3


def test_slots_grow_for_large_files_and_outputs(tmp_path):
    """Slots start at 1 MiB: the engine grows one for a larger file, a worker for a larger
    output (here 2.4 MB of uint8 pixels), and both sides map the new size."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    folder = tmp_path / "noise"
    folder.mkdir()
    for name, (w, h) in {"a": (300, 200), "b": (1400, 1100), "c": (320, 240), "d": (2000, 1500),
                         "e": (64, 64)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    assert (folder / "d.png").stat().st_size > 8 << 20
    args = ["--resize", "900x900", "--dtype", "uint8"]
    reference, _ = run(IMGPREP, folder, tmp_path / "tbb", *args)
    procs, _ = run(IMGPREP, folder, tmp_path / "procs", *args, "--cpu-engine", "procs",
                   "--workers", 1)
    assert_same_outputs(reference, procs)


@pytest.mark.parametrize("workers", [1, 2])
def test_crash_hang_and_abort_fail_only_their_images(tmp_path, tbb_runs, faults_binary, workers):
    reference = tbb_runs("imagenet-float32")
    started = time.monotonic()
    faulty, tag = run(faults_binary, SAMPLE, tmp_path / "faulty", *CONFIGS["imagenet-float32"],
                      "--cpu-engine", "procs", "--workers", workers, "--timeout-per-image", 1,
                      env={"IMGPREP_FAULT": FAULT_SPEC}, expect=1)
    assert time.monotonic() - started < 30  # the hang cost about one timeout, not the default 30 s

    failed = faulty.failed()
    assert sorted(failed) == sorted([CRASH, HANG, ABORT])
    assert failed[CRASH]["error"].startswith("worker crashed: signal 11"), failed[CRASH]
    assert failed[HANG]["error"] == "timed out after 1 s", failed[HANG]
    assert failed[ABORT]["error"].startswith("worker crashed: signal 6"), failed[ABORT]

    expected = reference.outputs()
    got = faulty.outputs()
    assert sorted(got) == sorted(set(expected) - set(failed))
    for path, item in got.items():
        assert item.dtype == expected[path].dtype and item.tobytes() == expected[path].tobytes(), path
    def without_position(row):
        return {k: v for k, v in row.items() if k not in ("shard", "row")}

    reference_rows = {r["path"]: without_position(r) for r in reference.manifest}
    for row in faulty.manifest:
        if row["status"] == "ok":
            assert without_position(row) == reference_rows[row["path"]]
    assert faulty.meta["failed"] == 3
    assert tagged_processes(tag) == []


def test_the_shipped_binary_has_no_fault_hook(tmp_path, tbb_runs):
    procs, _ = run(IMGPREP, SAMPLE, tmp_path / "procs", *CONFIGS["imagenet-float32"],
                   "--cpu-engine", "procs", env={"IMGPREP_FAULT": FAULT_SPEC})
    assert_same_outputs(tbb_runs("imagenet-float32"), procs)


@pytest.mark.parametrize("stuck", [False, True], ids=["busy", "stuck"])
def test_killing_the_parent_kills_its_workers(tmp_path, stuck, request):
    """A busy worker would also leave once its socket closed; a stuck one (imgprep-faults
    hanging on the first file) dies only of its parent-death signal."""
    binary = request.getfixturevalue("faults_binary") if stuck else IMGPREP
    # Long enough to be killed mid-run: the sample, 400 times over.
    files = sorted(str(p) for p in SAMPLE.rglob("*") if p.suffix in (".jpg", ".png", ".bmp"))
    listing = write_list(tmp_path / "many.txt", files * 400)
    tag = uuid.uuid4().hex
    cmd = [str(binary), "run", str(listing), "-o", str(tmp_path / "out"), "--preset", "imagenet",
           "--engine", "cpu", "--cpu-engine", "procs", "--workers", "2", "-q"]
    env = {**os.environ, "IMGPREP_TEST_TAG": tag, "IMGPREP_FAULT": f"hang:{files[0]}"}
    parent = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20

        def own_group(pid):
            """Workers lead process groups of their own, so Ctrl-C reaches only the parent. (A
            child caught inside posix_spawn shares the parent's memory, tag included, before
            its group is set: it counts once it is past that.)"""
            try:
                return os.getpgid(pid) == pid
            except OSError:
                return False

        while len(workers := [p for p in tagged_processes(tag)
                              if p != parent.pid and own_group(p)]) < 2:
            assert parent.poll() is None and time.monotonic() < deadline, "no workers appeared"
            time.sleep(0.05)
        assert all(parent_of(pid) == parent.pid for pid in workers)
        time.sleep(0.5)
        assert parent.poll() is None, "finished before it could be killed"
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 2
        while tagged_processes(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tagged_processes(tag) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.parametrize("bad", [["--cpu-engine", "forks"], ["--workers", "-1"],
                                 ["--timeout-per-image", "0"], ["--timeout-per-image", "-2"]])
def test_bad_procs_options_exit_2(tmp_path, bad):
    result, _ = run(IMGPREP, SAMPLE, tmp_path / "out", "--preset", "imagenet", *bad, expect=2)
    assert result.stderr.startswith("imgprep: "), result.stderr


def test_the_worker_mode_is_hidden():
    help_text = subprocess.run([str(IMGPREP), "run", "--help"], capture_output=True, text=True).stdout
    assert "--cpu-engine" in help_text and "__worker" not in help_text
    # Started by hand, without a parent to serve, a worker leaves at once.
    assert subprocess.run([str(IMGPREP), "__worker"], timeout=10).returncode == 1

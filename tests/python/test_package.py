"""The Python package (`import imgprep`): the same settings, messages and bytes as the command.

The references are the imgprep command itself (its files and its stderr), numpy reading the
shards it wrote, and the manifest. Run by the interpreter of the project's virtual environment,
with the build tree's package on PYTHONPATH (tests/python/CMakeLists.txt).
"""

import gc
import json
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import imgprep
from conftest import IMGPREP, REPO, run_imgprep, write_list

SAMPLE_BAD = REPO / "datasets" / "sample-bad"


def command_error(*args):
    """The command's one-line message for a refused command line, without "imgprep: "."""
    proc = subprocess.run([str(IMGPREP), "run", str(REPO / "datasets/sample"), "-o", "/nonexistent",
                           "--dry-run", *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("imgprep: ")
    return line[len("imgprep: "):]


def files_of(out):
    """Every output file's bytes, meta.json aside (it records OUT's own path)."""
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "meta.json"}


@pytest.mark.parametrize("settings,args", [
    ({"batch": "abc"}, ["--batch", "abc"]),
    ({"io_threads": 1.5}, ["--io-threads", "1.5"]),
    ({"resize": "huge"}, ["--resize", "huge"]),
    ({"quality": 50}, ["--quality", "50"]),
    ({"preset": "imagenet", "workers": 2}, ["--preset", "imagenet", "--workers", "2"]),
    ({"format": "images", "mean": (0.5, 0.5, 0.5)},
     ["--format", "images", "--mean", "0.5,0.5,0.5"]),
    ({"preset": "imagenet", "std": 0}, ["--preset", "imagenet", "--std", "0"]),
])
def test_config_refuses_as_the_command_does(settings, args):
    message = command_error(*args)
    with pytest.raises(ValueError) as refused:
        config = imgprep.Config(**settings)
        # Some rules hold for a whole job only: run() applies them, as the command does.
        imgprep.run(REPO / "datasets/sample", "/nonexistent", config)
    assert str(refused.value) == message


def test_config_pickles_as_its_preset_and_settings():
    config = imgprep.Config(preset="imagenet", dtype="uint8", mean=(0.5, 0.5, 0.5), strip=False)
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config and copy.preset == "imagenet" and repr(copy) == repr(config)
    assert copy.to_dict()["dtype"] == "uint8" and copy.to_dict()["mean"] == [0.5, 0.5, 0.5]


def test_config_names_values_and_preset():
    config = imgprep.Config(preset="imagenet", resize="shorter:300", io_threads=3,
                            mean=(0.5, 0.25, 0.125), no_exif=True, strip=False)
    d = config.to_dict()
    assert d["resize"] == "shorter:300" and d["crop"] == "center:224x224"
    assert d["io_threads"] == 3 and d["exif"] is False and d["strip"] is False
    assert d["mean"] == [0.5, 0.25, 0.125]
    assert d["preset"] == "imagenet"
    assert config.replace(dtype="uint8").to_dict()["dtype"] == "uint8"
    assert config.to_dict()["dtype"] == "float32"  # replace() made a new Config
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        imgprep.Config(colour="red")
    names = {s["name"] for s in imgprep.settings()}
    assert {"resize", "io-threads", "no-exif", "max-errors"} <= names


def test_run_writes_what_the_command_writes(tmp_path, sample_dir):
    args = ["--preset", "clip", "--dtype", "float16", "--shard-size", "5", "--engine", "cpu"]
    command = run_imgprep(sample_dir, tmp_path / "command", *args)
    summary = imgprep.run(sample_dir, tmp_path / "package",
                          imgprep.Config(preset="clip", dtype="float16"), shard_size=5,
                          engine="cpu", quiet=True)
    assert files_of(tmp_path / "package") == files_of(command.out)
    meta = json.loads((tmp_path / "package" / "meta.json").read_text())
    assert summary["inputs"] == meta["inputs"] == 17
    assert summary["processed"] == 17 and summary["failed"] == 0 and summary["exit_code"] == 0
    assert summary["output"] == meta["output"]
    assert summary["engine"] == meta["engine"]
    assert summary["manifest"] == str(tmp_path / "package" / "manifest.jsonl")


def test_run_images_format_and_failures(tmp_path):
    args = ["--format", "images", "--resize", "shorter:100", "--engine", "cpu"]
    command = run_imgprep(SAMPLE_BAD, tmp_path / "command", *args, expect=1)
    summary = imgprep.run(SAMPLE_BAD, tmp_path / "package", format="images",
                          resize="shorter:100", engine="cpu", quiet=True)
    assert files_of(tmp_path / "package") == files_of(command.out)
    rows = command.manifest
    failed = [r for r in rows if r["status"] == "failed"]
    assert summary["failed"] == len(failed) > 0
    assert summary["processed"] == len(rows) - len(failed)
    assert summary["exit_code"] == 1
    assert summary["skipped"] == json.loads((command.out / "meta.json").read_text())["skipped"]


def test_run_with_worker_processes(tmp_path, sample_dir):
    tbb = imgprep.run(sample_dir, tmp_path / "tbb", imgprep.Config(preset="imagenet"),
                      engine="cpu", quiet=True)
    procs = imgprep.run(sample_dir, tmp_path / "procs", imgprep.Config(preset="imagenet"),
                        engine="cpu", cpu_engine="procs", workers=2, quiet=True)
    assert "procs: 2 worker processes" in procs["engine"]
    assert procs["processed"] == tbb["processed"] == 17
    assert files_of(tmp_path / "procs") == files_of(tmp_path / "tbb")


def test_run_errors_are_exceptions(tmp_path):
    with pytest.raises(imgprep.InputError, match="INPUT does not exist"):
        imgprep.run(tmp_path / "missing", tmp_path / "out", imgprep.Config(preset="imagenet"))
    with pytest.raises(ValueError, match="OUT is INPUT"):
        imgprep.run(REPO / "datasets/sample", REPO / "datasets/sample",
                    imgprep.Config(preset="imagenet"))


def test_process_gives_the_rows_of_the_shards(tmp_path):
    command = run_imgprep(SAMPLE_BAD, tmp_path / "out", "--preset", "imagenet", "--engine", "cpu",
                          expect=1)
    shard = np.load(command.out / "shard-00000.npy")
    rows = command.manifest
    paths = [SAMPLE_BAD / r["path"] for r in rows]
    images, status = imgprep.process(paths, imgprep.Config(preset="imagenet"), threads=2)
    assert images.shape == (len(rows), 3, 224, 224) and images.dtype == np.float32
    for i, row in enumerate(rows):
        if row["status"] == "ok":
            assert status[i] is None
            assert np.array_equal(images[i], shard[row["row"]]), row["path"]
        else:
            assert status[i] == row["error"]
            assert not images[i].any()


@pytest.mark.parametrize("dtype,layout,shape", [
    ("uint8", "nhwc", (224, 224, 3)), ("float16", "nchw", (3, 224, 224))])
def test_process_dtype_and_layout(tmp_path, sample_dir, dtype, layout, shape):
    paths = sorted(p for p in sample_dir.rglob("*.jpg"))[:4]
    command = run_imgprep(write_list(tmp_path / "list.txt", paths), tmp_path / "out", "--preset",
                          "imagenet", "--dtype", dtype, "--layout", layout, "--engine", "cpu")
    images, status = imgprep.process(paths, imgprep.Config(preset="imagenet", dtype=dtype,
                                                           layout=layout))
    assert images.shape == (4, *shape) and images.dtype == np.dtype(dtype)
    assert status == [None] * 4
    assert np.array_equal(images, np.load(command.out / "shard-00000.npy"))


def test_process_array_owns_its_memory(sample_dir):
    paths = sorted(sample_dir.rglob("*.jpg"))[:3]
    images, _ = imgprep.process(paths, imgprep.Config(preset="imagenet", dtype="uint8"))
    copy = images.copy()
    view = images[1]
    del images
    gc.collect()
    assert np.array_equal(view, copy[1])  # the buffer lives as long as a view of it


def count_ticks(until):
    """Pure-Python work: how often the loop ran until `until()` held, and for how long."""
    ticks, start = 0, time.perf_counter()
    while not until():
        ticks += 1
    return ticks, time.perf_counter() - start


def test_process_releases_the_gil(sample_dir):
    paths = sorted(sample_dir.rglob("*.jpg")) * 20
    alone_end = time.perf_counter() + 0.3
    alone, alone_s = count_ticks(lambda: time.perf_counter() > alone_end)
    done = threading.Event()
    result = {}

    def work():
        result["out"] = imgprep.process(paths, imgprep.Config(preset="imagenet"), threads=1)
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    ticks, seconds = count_ticks(done.is_set)
    thread.join()
    assert seconds > 0.2, "too little work to tell"
    # Held for the whole call, the GIL would let this thread run a switch interval (5 ms) or two.
    assert ticks / seconds > 0.2 * alone / alone_s, (ticks, seconds, alone, alone_s)
    assert result["out"][1] == [None] * len(paths)


def test_ctrl_c_stops_run_like_the_command_and_resume_completes(tmp_path, sample_dir):
    images = sorted(p for p in sample_dir.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    inputs = write_list(tmp_path / "inputs.txt", images * 12)
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import imgprep
        try:
            imgprep.run({str(inputs)!r}, {str(out)!r}, imgprep.Config(preset="imagenet"),
                        shard_size=8, threads=1, engine="cpu", quiet=True)
        except KeyboardInterrupt:
            print("KeyboardInterrupt")
            raise SystemExit(130)
        print("completed")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ((out / "journal.jsonl").exists() and
               (out / "journal.jsonl").read_text().count("\n") >= 2):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "KeyboardInterrupt" in stdout, stderr
    assert json.loads((out / "meta.json").read_text())["complete"] is False

    summary = imgprep.run(inputs, out, imgprep.Config(preset="imagenet"), shard_size=8,
                          engine="cpu", quiet=True, resume=True)
    assert summary["exit_code"] == 0
    clean = run_imgprep(inputs, tmp_path / "clean", "--preset", "imagenet", "--shard-size", "8",
                        "--engine", "cpu")
    assert files_of(out) == files_of(clean.out)

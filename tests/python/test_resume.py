"""Interrupted runs: SIGINT and SIGTERM stop cleanly (exit 130/143, completed shards and a manifest
that describes exactly them), a second SIGINT exits at once, SIGKILL at any point loses nothing,
and --resume then finishes OUT byte-identical to an uninterrupted run. Also: --resume refuses
other settings, and a full disk (RLIMIT_FSIZE) is a clear error that leaves no truncated shard."""

import json
import resource
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import IMGPREP, write_list

ARGS = ["--preset", "imagenet", "--shard-size", "8", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_dir):
    """The sample set listed 12 times over: enough work to interrupt."""
    images = sorted(p for p in sample_dir.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".bmp"))
    return write_list(tmp_path_factory.mktemp("list") / "inputs.txt", images * 12)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, inputs):
    out = tmp_path_factory.mktemp("clean") / "out"
    subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(out), *ARGS], check=True,
                   capture_output=True, timeout=300)
    return out


def start(inputs, out, **kwargs):
    return subprocess.Popen([str(IMGPREP), "run", str(inputs), "-o", str(out), *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_shards(out, count, proc, timeout=60):
    """Until `count` shards are recorded in the journal (the run is mid-way)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        journal = out / "journal.jsonl"
        if journal.exists() and journal.read_text().count("\n") >= count:
            return
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.01)
    raise AssertionError("no progress")


def sigint_pending(pid):
    """Whether a SIGINT sent to the process waits to be handled (/proc/PID/status, ShdPnd)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("ShdPnd:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def resume(inputs, out):
    return subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(out), *ARGS, "--resume"],
                          capture_output=True, text=True, timeout=300)


def outputs(out):
    """Every output file's bytes; meta.json without OUT's own path."""
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "meta.json"}
    meta = json.loads((out / "meta.json").read_text())
    meta["config"].pop("output")
    return files, meta


def assert_consistent(out):
    """No temporary file looks complete; the manifest describes exactly the shards on disk."""
    shards = {p.name: np.load(p, mmap_mode="r") for p in out.glob("shard-*.npy")}
    for row in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()):
        if row["status"] == "ok":
            assert row["row"] < len(shards[f"shard-{row['shard']:05d}.npy"])
    for shard in shards.values():
        assert shard.shape[1:] == (3, 224, 224)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_cleanly_and_resume_completes(tmp_path, inputs, clean, sig, code):
    out = tmp_path / "out"
    proc = start(inputs, out)
    wait_for_shards(out, 2, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "--resume" in err
    assert_consistent(out)
    assert json.loads((out / "meta.json").read_text())["complete"] is False
    done = resume(inputs, out)
    assert done.returncode == 0, done.stderr
    assert outputs(out) == outputs(clean)


def test_second_sigint_exits_at_once(tmp_path, inputs, clean):
    out = tmp_path / "out"
    proc = start(inputs, out)
    wait_for_shards(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    # Two pending SIGINTs merge into one: the second goes once the first has been taken, while
    # the graceful stop it started still finishes the images in flight.
    while sigint_pending(proc.pid):
        pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    # At once: not after the graceful stop, whose last words say how to resume.
    assert "--resume" not in err, err
    for shard in out.glob("shard-*.npy"):  # whatever has its final name is whole
        assert np.load(shard, mmap_mode="r").shape[1:] == (3, 224, 224)
    assert resume(inputs, out).returncode == 0
    assert outputs(out) == outputs(clean)


@pytest.mark.parametrize("shards_before_kill", [0, 1, 3, 6])
def test_sigkill_at_any_point_then_resume_is_identical(tmp_path, inputs, clean, shards_before_kill):
    out = tmp_path / "out"
    proc = start(inputs, out)
    if shards_before_kill:
        wait_for_shards(out, shards_before_kill, proc)
    else:
        # As early as there is a run to resume: meta.json is written before any image.
        while not (out / "meta.json").exists():
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.001)
    proc.kill()
    proc.communicate(timeout=60)
    done = resume(inputs, out)
    assert done.returncode == 0, done.stderr
    assert outputs(out) == outputs(clean)
    assert not list(out.glob("*.part")) and not (out / "journal.jsonl").exists()


def test_resume_refuses_other_settings_and_missing_runs(tmp_path, inputs, clean, sample_dir):
    out = tmp_path / "out"
    proc = start(inputs, out)
    wait_for_shards(out, 1, proc)
    proc.kill()
    proc.communicate(timeout=60)
    other = subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(out), *ARGS,
                            "--interp", "cubic", "--resume"], capture_output=True, text=True)
    assert other.returncode == 2 and "--interp" in other.stderr, other.stderr
    nothing = subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(tmp_path / "new"),
                              *ARGS, "--resume"], capture_output=True, text=True)
    assert nothing.returncode == 2 and "meta.json" in nothing.stderr, nothing.stderr
    again = resume(inputs, clean)
    assert again.returncode == 0 and "already complete" in again.stdout


def test_full_disk_is_a_clear_error_without_truncated_shards(tmp_path, inputs):
    out = tmp_path / "out"
    limit = 3 * 1024 * 1024  # room for fewer than two shards of 8 x 602 KB

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(out), *ARGS],
                         capture_output=True, text=True, timeout=300, preexec_fn=small_disk)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: "), run.stderr
    assert "File too large" in lines[0] or "No space" in lines[0], lines[0]
    for shard in out.glob("shard-*.npy"):
        assert np.load(shard, mmap_mode="r").shape[1:] == (3, 224, 224)
    assert not list(out.glob("*.part"))

"""Interrupted runs: SIGINT and SIGTERM stop cleanly (exit 130/143, completed shards and a manifest
that describes exactly them), a second SIGINT exits at once, SIGKILL at any point loses nothing,
and --resume then finishes OUT byte-identical to an uninterrupted run. Also: --resume refuses
other settings, and a full disk (RLIMIT_FSIZE) is a clear error that leaves no truncated shard."""

import json
import os
import resource
import shutil
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


def complete_run(tmp_path_factory, name, inputs, args):
    """OUT of an uninterrupted run, made once per module."""
    out = tmp_path_factory.mktemp(name) / "out"
    subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(out), *args], check=True,
                   capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory, inputs):
    return complete_run(tmp_path_factory, "clean", inputs, ARGS)


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


# --------------------------------------------------------------------------------------------
# A journal that cannot be trusted: --resume refuses it (exit 2, one line naming the line)
# and leaves OUT as it was. The journal is the one an interrupted labelled run leaves after
# three shards of two, made from a complete run's manifest.

LABELLED = ["--preset", "imagenet", "--shard-size", "2", "--threads", "1", "-q"]
KEPT = 3  # shards the journal records


@pytest.fixture(scope="module")
def labelled_clean(tmp_path_factory, sample_dir):
    return complete_run(tmp_path_factory, "labelled", sample_dir, LABELLED)


def journal_lines(out):
    """The journal lines of the first KEPT shards, from the manifest of a complete run."""
    rows = (out / "manifest.jsonl").read_text().splitlines()
    lines, start, failed = [], 0, 0
    for i, text in enumerate(rows):
        row = json.loads(text)
        if row["status"] != "ok":
            failed += 1
        elif row["row"] == 1:  # the second row of two completes a shard
            lines.append({"shards": row["shard"] + 1, "next_input": i + 1, "failed": failed,
                          "rows": rows[start:i + 1]})
            start = i + 1
    return lines[:KEPT]


def interrupted_copy(clean_out, dest):
    """clean_out as a run interrupted after KEPT shards left it."""
    shutil.copytree(clean_out, dest)
    meta = json.loads((dest / "meta.json").read_text())
    meta["complete"] = False
    (dest / "meta.json").write_text(json.dumps(meta))
    for p in dest.glob("*-*.npy"):
        if int(p.stem.split("-")[1]) >= KEPT:
            p.unlink()
    return dest, journal_lines(clean_out)


def write_journal(out, lines, tail=""):
    (out / "journal.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines) + tail)


def resume_labelled(sample_dir, out):
    return subprocess.run([str(IMGPREP), "run", str(sample_dir), "-o", str(out), *LABELLED,
                           "--resume"], capture_output=True, text=True, timeout=300)


def test_a_sound_or_torn_journal_resumes(tmp_path, sample_dir, labelled_clean):
    for tail in ["", '{"shards": 4, "next_in']:
        out, lines = interrupted_copy(labelled_clean, tmp_path / f"out{len(tail)}")
        write_journal(out, lines, tail)
        done = resume_labelled(sample_dir, out)
        assert done.returncode == 0, done.stderr
        assert outputs(out)[0] == outputs(labelled_clean)[0]


def with_field(line_no, key, value):
    def corrupt(lines, out):
        lines[line_no - 1][key] = value(lines[line_no - 1], lines) if callable(value) else value
        return line_no
    return corrupt


def edit_rows(line_no, edit):
    def corrupt(lines, out):
        edit(lines[line_no - 1]["rows"])
        return line_no
    return corrupt


def shard_file(name, change):
    def corrupt(lines, out):
        change(out / name)
        return int(name.split("-")[1].split(".")[0]) + 1
    return corrupt


def grow(path):
    with open(path, "ab") as f:
        f.write(b"\0" * 64)


def truncate(path):
    os.truncate(path, path.stat().st_size - 1)


def rewrite_header(path):
    data = bytearray(path.read_bytes())
    data[10:20] = b"{'descr': "[::-1]
    path.write_bytes(bytes(data))


def replace_by_folder(path):
    path.unlink()
    path.mkdir()


def not_json(line_no):
    def corrupt(lines, out):
        lines[line_no - 1] = "not json"
        return line_no
    return corrupt


CORRUPTIONS = {
    "next_input negative": with_field(3, "next_input", -1),
    "next_input huge": with_field(3, "next_input", 10**12),
    "next_input beyond 2**64": with_field(3, "next_input", 2**64 + 1),
    "next_input string": with_field(3, "next_input", "6"),
    "next_input float": with_field(3, "next_input", 6.5),
    "next_input missing": with_field(3, "next_input", None),
    "next_input too small": with_field(3, "next_input", lambda l, ls: l["next_input"] - 1),
    "next_input too big": with_field(3, "next_input", lambda l, ls: l["next_input"] + 1),
    "next_input not increasing": with_field(2, "next_input", lambda l, ls: ls[0]["next_input"]),
    "shards negative": with_field(3, "shards", -5),
    "shards huge": with_field(3, "shards", 2**40),
    "shards string": with_field(3, "shards", "3"),
    "shards too small": with_field(3, "shards", 2),
    "shards too big": with_field(3, "shards", 4),
    "shards zero on line 1": with_field(1, "shards", 0),
    "failed negative": with_field(2, "failed", -1),
    "failed huge": with_field(2, "failed", 10**15),
    "failed string": with_field(2, "failed", "0"),
    "failed too big": with_field(3, "failed", 1),
    "rows missing": with_field(2, "rows", None),
    "rows not a list": with_field(2, "rows", "rows"),
    "rows of numbers": with_field(2, "rows", [1, 2]),
    "rows not manifest lines": with_field(2, "rows", ["{", "}"]),
    "a row too few": edit_rows(2, lambda rows: rows.pop()),
    "a row too many": edit_rows(2, lambda rows: rows.append(rows[0])),
    "key missing": with_field(1, "failed", None),
    "line not json": not_json(2),
    "rows empty": with_field(1, "rows", []),
    "shard deleted": shard_file("shard-00001.npy", os.unlink),
    "shard truncated": shard_file("shard-00002.npy", truncate),
    "shard grown": shard_file("shard-00000.npy", grow),
    "shard header changed": shard_file("shard-00001.npy", rewrite_header),
    "shard a folder": shard_file("shard-00002.npy", replace_by_folder),
    "labels deleted": shard_file("labels-00001.npy", os.unlink),
    "labels truncated": shard_file("labels-00000.npy", truncate),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_resume_refuses_a_journal_it_cannot_trust(tmp_path, sample_dir, labelled_clean, name):
    out, lines = interrupted_copy(labelled_clean, tmp_path / "out")
    bad_line = CORRUPTIONS[name](lines, out)
    lines = [line if isinstance(line, str) else
             {k: v for k, v in line.items() if v is not None} for line in lines]
    (out / "journal.jsonl").write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    done = resume_labelled(sample_dir, out)
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines_out = done.stderr.strip().splitlines()
    assert len(lines_out) == 1, done.stderr
    assert lines_out[0].startswith(f"imgprep: {out / 'journal.jsonl'} line {bad_line}: "), done.stderr
    assert "without --resume" in lines_out[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

"""--format wds and wds-images: WebDataset tar shards, read back with the `webdataset` package,
Python's tarfile and GNU tar, and compared with what --format npy and --format images write for
the same settings. Also: the bytes do not depend on threads or on the --shard K/N slice, a run
killed with SIGKILL resumes to the same bytes, and --resume refuses a journalled tar that is not
as it was written."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import webdataset

from conftest import IMGPREP, REPO, part_of, run_imgprep, write_list

SAMPLE_BAD = REPO / "datasets" / "sample-bad"
PRESET = ["--preset", "imagenet", "--engine", "cpu"]
TENSORS = [*PRESET, "--shard-size", "5"]


def tar_files(out):
    return sorted(Path(out).glob("shard-*.tar"))


def samples(out, decode=True):
    """Every sample of OUT's tars, in order, as the webdataset package reads them."""
    dataset = webdataset.WebDataset([str(p) for p in tar_files(out)], shardshuffle=False,
                                    empty_check=False)
    return list(dataset.decode() if decode else dataset)


def members(tar):
    """(name, bytes) of every member of a tar, in order, read with Python's tarfile."""
    with tarfile.open(tar) as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers()]


def sample_bytes(tar):
    """{key: the bytes a sample takes in the tar (its headers, data and padding)}."""
    raw = Path(tar).read_bytes()
    spans = {}
    with tarfile.open(tar) as t:
        for m in t.getmembers():
            key = m.name.split(".")[0]
            end = m.offset_data + (m.size + 511) // 512 * 512
            start = spans.get(key, (m.offset, 0))[0]
            spans[key] = (start, end)
    return {key: raw[start:end] for key, (start, end) in spans.items()}


def without_shard(row):
    return {k: v for k, v in row.items() if k != "shard"}


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array))
    return buffer.getvalue()


@pytest.mark.parametrize("inputs", ["sample", "sample-bad"])
def test_tensors_labels_and_rows_equal_the_npy_format(tmp_path, inputs):
    inp = REPO / "datasets" / inputs
    expect = 0 if inputs == "sample" else 1
    npy = run_imgprep(inp, tmp_path / "npy", *TENSORS, expect=expect)
    wds = run_imgprep(inp, tmp_path / "wds", *TENSORS, "--format", "wds", expect=expect)
    rows = wds.manifest
    ok = [(i, r) for i, r in enumerate(rows) if r["status"] == "ok"]
    got = samples(wds.out)
    assert [s["__key__"] for s in got] == [f"{i:09d}" for i, _ in ok]
    assert [r["path"] for r in rows] == [r["path"] for r in npy.manifest]
    assert [r["status"] for r in rows] == [r["status"] for r in npy.manifest]
    labelled = inputs == "sample"
    for sample, (i, row) in zip(got, ok):
        assert row["key"] == sample["__key__"] and "row" not in row
        tensor = npy.output(row["path"])
        assert sample["npy"].dtype == np.float32 and sample["npy"].shape == (3, 224, 224)
        assert np.array_equal(sample["npy"], tensor)
        assert sample["json"] == without_shard(row)
        assert sample["json"]["key"] == sample["__key__"]
        if labelled:
            assert sample["cls"] == row["label"] == npy.row(row["path"])["label"]
        else:
            assert "cls" not in sample
    # Failed inputs: rows in the manifest, no sample in the tars.
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == (0 if labelled else len(npy.failed()))
    assert all("key" not in r and "shard" not in r for r in failed)
    assert wds.meta["output"] == {"format": "wds", "shards": len(tar_files(wds.out)),
                                  "item_shape": [3, 224, 224], "dtype": "float32",
                                  "layout": "nchw"}


def test_every_tar_reads_with_tarfile_and_gnu_tar(tmp_path, sample_dir):
    run = run_imgprep(sample_dir, tmp_path / "out", *TENSORS, "--format", "wds", "--dtype",
                      "uint8", "--layout", "nhwc")
    npy = run_imgprep(sample_dir, tmp_path / "npy", *TENSORS, "--dtype", "uint8", "--layout",
                      "nhwc")
    rows = [r for r in run.manifest if r["status"] == "ok"]
    names = []
    for tar in tar_files(run.out):
        with tarfile.open(tar) as t:
            for m in t.getmembers():
                assert m.isfile() and m.mode == 0o644 and m.uid == m.gid == 0 and m.mtime == 0
                assert m.uname == m.gname == ""
        raw = tar.read_bytes()
        assert len(raw) % 512 == 0 and raw[-1024:] == bytes(1024)
        assert raw[257:265] == b"ustar\x0000"
        listing = subprocess.run(["tar", "-tvf", str(tar)], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        listed = [line.split()[-1] for line in listing]
        assert all(line.startswith("-rw-r--r-- 0/0") for line in listing)
        assert listed == [m[0] for m in members(tar)]
        names += listed
        # Each .npy member is the file numpy itself writes for that tensor.
        for name, data in members(tar):
            if name.endswith(".npy"):
                row = next(r for r in rows if r["key"] == name[:-4])
                assert data == npy_bytes(npy.output(row["path"]))
    # Samples in input order, members in a fixed order: the tensor, the label, the row.
    assert names == [f"{r['key']}.{ext}" for r in rows for ext in ("npy", "cls", "json")]


@pytest.mark.parametrize("image_format,extra", [("jpg", []), ("png", ["--strip"]),
                                                ("webp", [])])
def test_image_members_are_the_files_format_images_writes(tmp_path, image_format, extra):
    args = ["--resize", "shorter:80", "--image-format", image_format, "--engine", "cpu", *extra]
    images = run_imgprep(SAMPLE_BAD, tmp_path / "images", "--format", "images", *args, expect=1)
    wds = run_imgprep(SAMPLE_BAD, tmp_path / "wds", "--format", "wds-images", *args, expect=1)
    outputs = {r["path"]: r["output"] for r in images.manifest if r["status"] == "ok"}
    rows = {r["key"]: r for r in wds.manifest if r["status"] == "ok"}
    got = samples(wds.out, decode=False)
    assert len(got) == len(outputs) == len(rows) > 0
    for sample in got:
        row = rows[sample["__key__"]]
        assert sample[image_format] == (images.out / outputs[row["path"]]).read_bytes()
        assert json.loads(sample["json"]) == without_shard(row)
    assert wds.meta["output"] == {"format": "wds-images", "shards": 1,
                                  "image_format": image_format}


def test_same_bytes_whatever_the_threads(tmp_path, sample_dir):
    def tars(threads, fmt):
        run = run_imgprep(sample_dir, tmp_path / f"{fmt}-{threads}", *TENSORS, "--format", fmt,
                          "--threads", threads, *(["--in-flight", "1"] if threads == 1 else []))
        return {p.name: p.read_bytes() for p in tar_files(run.out)}, run.manifest

    for fmt in ("wds", "wds-images"):
        one = tars(1, fmt)
        assert one == tars(2, fmt) and len(one[0]) == 4


def test_shard_size_splits_the_samples(tmp_path, sample_dir):
    run = run_imgprep(sample_dir, tmp_path / "out", *PRESET, "--format", "wds",
                      "--shard-size", "4")
    tars = tar_files(run.out)
    assert [p.name for p in tars] == [f"shard-{i:05d}.tar" for i in range(5)]
    counts = [len(members(p)) // 3 for p in tars]
    assert counts == [4, 4, 4, 4, 1] and run.meta["output"]["shards"] == 5
    for row in run.manifest:
        assert f"{row['key']}.npy" in [n for n, _ in members(tars[row["shard"]])]
    # A larger shard size into the same OUT leaves no stale tar behind.
    again = run_imgprep(sample_dir, run.out, *PRESET, "--format", "wds", "--shard-size", "100")
    assert [p.name for p in tar_files(again.out)] == ["shard-00000.tar"]


def test_a_slice_has_the_samples_of_the_whole_run(tmp_path, sample_dir):
    whole = run_imgprep(sample_dir, tmp_path / "whole", *TENSORS, "--format", "wds")
    part = part_of(run_imgprep(sample_dir, tmp_path / "part", *TENSORS, "--format", "wds",
                               "--shard", "1/2"), 1, 2)
    every = {}
    for tar in tar_files(whole.out):
        every.update(sample_bytes(tar))
    sliced = {}
    for tar in tar_files(part.out):
        sliced.update(sample_bytes(tar))
    keys = [r["key"] for r in part.manifest]
    # The second of two slices of the 17 inputs: the last 8 or 9, keyed by their place in all 17.
    assert len(keys) in (8, 9) and keys == [f"{i:09d}" for i in range(17 - len(keys), 17)]
    assert list(sliced) == keys
    for key, data in sliced.items():
        assert data == every[key]


def test_dry_run_lists_the_tars_and_their_size(tmp_path, sample_dir):
    args = [*TENSORS, "--format", "wds"]
    dry = subprocess.run([str(IMGPREP), "run", str(sample_dir), "-o", str(tmp_path / "out"),
                          *args, "--dry-run"], capture_output=True, text=True, check=True)
    assert "output: 4 tar shards of up to 5 samples, each with .npy, .cls and .json members" \
        in dry.stdout
    run = run_imgprep(sample_dir, tmp_path / "out", *args)
    total = sum(p.stat().st_size for p in tar_files(run.out))
    assert f"size on disk: about {total / 1048576:.1f} MiB ({total} bytes) of tars" in dry.stdout
    dry = subprocess.run([str(IMGPREP), "run", str(sample_dir), "-o", str(tmp_path / "img"),
                          "--format", "wds-images", "--dry-run"],
                         capture_output=True, text=True, check=True)
    assert "output: 1 tar shard of up to 1024 samples, each with .jpg, .cls and .json" in dry.stdout


@pytest.mark.parametrize("args,message", [
    (["--format", "wds", "--quality", "80"], "--quality does not apply to --format wds"),
    (["--format", "wds", "--image-format", "png"], "--image-format does not apply to --format wds"),
    (["--format", "wds-images", "--dtype", "uint8"],
     "--dtype does not apply to --format wds-images"),
    (["--format", "wds-images", "--mean", "0.5"], "--mean does not apply to --format wds-images"),
    (["--format", "wds", "--resize", "shorter:64"], "wds tensors need one output size"),
    (["--format", "images", "--shard-size", "4"], "--shard-size does not apply to --format images"),
])
def test_settings_that_do_not_apply_are_refused(tmp_path, sample_dir, args, message):
    run = run_imgprep(sample_dir, tmp_path / "out", *args, expect=2)
    assert message in run.stderr


def test_help_names_the_formats():
    text = subprocess.run([str(IMGPREP), "run", "--help"], capture_output=True, text=True).stdout
    assert "wds-images" in text and "wds tar" in text


def test_the_package_writes_what_the_command_writes(tmp_path, sample_dir):
    sys.path.insert(0, str(REPO / "build" / "python"))  # by hand; CTest sets PYTHONPATH
    imgprep = pytest.importorskip("imgprep")
    command = run_imgprep(sample_dir, tmp_path / "command", *TENSORS, "--format", "wds")
    imgprep.run(sample_dir, tmp_path / "package", imgprep.Config(preset="imagenet", format="wds"),
                shard_size=5, engine="cpu", quiet=True)
    assert [p.read_bytes() for p in tar_files(tmp_path / "package")] == \
        [p.read_bytes() for p in tar_files(command.out)]


# --------------------------------------------------------------------------------------------
# Interruptions and --resume
# --------------------------------------------------------------------------------------------

RESUMABLE = ["--preset", "imagenet", "--shard-size", "8", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_dir):
    """The sample set listed 12 times over: enough work to interrupt."""
    images = sorted(p for p in sample_dir.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".bmp"))
    return write_list(tmp_path_factory.mktemp("list") / "inputs.txt", images * 12)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, inputs):
    out = tmp_path_factory.mktemp("clean") / "out"
    subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(out), *RESUMABLE, "--format",
                    "wds"], check=True, capture_output=True, timeout=300)
    return out


def outputs(out):
    """Every output file's bytes; meta.json without OUT's own path."""
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "meta.json"}
    meta = json.loads((out / "meta.json").read_text())
    meta["config"].pop("output")
    return files, meta


def resume(inputs, out, *extra, fmt="wds"):
    return subprocess.run([str(IMGPREP), "run", str(inputs), "-o", str(out), *RESUMABLE,
                           "--format", fmt, *extra, "--resume"], capture_output=True, text=True,
                          timeout=300)


def killed_run(inputs, out, shards, sig=signal.SIGKILL):
    """OUT of a run sent sig once its journal records `shards` tars; returns OUT and the
    run's exit code and standard error."""
    proc = subprocess.Popen([str(IMGPREP), "run", str(inputs), "-o", str(out), *RESUMABLE,
                             "--format", "wds"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = out / "journal.jsonl"
    deadline = time.time() + 120
    while not (journal.exists() and journal.read_text().count("\n") >= shards):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no progress"
        time.sleep(0.005)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return out, proc.returncode, err


def test_sigint_keeps_complete_tars_and_their_rows(tmp_path, inputs, clean):
    out, code, err = killed_run(inputs, tmp_path / "out", 2, signal.SIGINT)
    assert code == 130 and "--resume" in err, err
    tars = tar_files(out)
    assert len(tars) >= 2 and not list(out.glob("*.part"))
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 8 * len(tars) and {r["shard"] for r in rows} == set(range(len(tars)))
    for tar in tars:
        assert len(members(tar)) == 8 * 2
    done = resume(inputs, out)
    assert done.returncode == 0, done.stderr
    assert outputs(out) == outputs(clean)


def test_sigkill_then_resume_gives_the_same_bytes(tmp_path, inputs, clean):
    out, _, _ = killed_run(inputs, tmp_path / "out", 3)
    lines = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    for number, line in enumerate(lines, 1):
        tar = out / f"shard-{number - 1:05d}.tar"
        assert line["shards"] == number and line["bytes"] == tar.stat().st_size
    # Whatever has a tar's final name is whole: 8 samples of a .npy and a .json (no labels).
    for tar in tar_files(out):
        assert len(members(tar)) == 8 * 2
    done = resume(inputs, out)
    assert done.returncode == 0, done.stderr
    assert outputs(out) == outputs(clean)
    assert not list(out.glob("*.part")) and not (out / "journal.jsonl").exists()


def interrupted_copy(clean_out, dest, kept=3):
    """clean_out as a run interrupted after `kept` tars left it, with its journal."""
    shutil.copytree(clean_out, dest)
    meta = json.loads((dest / "meta.json").read_text())
    meta["complete"] = False
    (dest / "meta.json").write_text(json.dumps(meta))
    rows = (dest / "manifest.jsonl").read_text().splitlines()
    lines, start, failed = [], 0, 0
    for i, text in enumerate(rows):
        row = json.loads(text)
        failed += row["status"] != "ok"
        last_of_shard = row["status"] == "ok" and not any(
            json.loads(r).get("shard") == row["shard"] for r in rows[i + 1:])
        if last_of_shard and len(lines) < kept:
            tar = dest / f"shard-{row['shard']:05d}.tar"
            lines.append({"shards": row["shard"] + 1, "next_input": i + 1, "failed": failed,
                          "rows": rows[start:i + 1], "bytes": tar.stat().st_size})
            start = i + 1
    for tar in tar_files(dest):
        if int(tar.stem.split("-")[1]) >= kept:
            tar.unlink()
    return dest, lines


def write_journal(out, lines):
    (out / "journal.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_sound_journal_resumes(tmp_path, inputs, clean):
    out, lines = interrupted_copy(clean, tmp_path / "out")
    write_journal(out, lines)
    done = resume(inputs, out)
    assert done.returncode == 0, done.stderr
    assert outputs(out) == outputs(clean)


def change_byte(offset):
    def change(path):
        data = bytearray(path.read_bytes())
        data[offset] ^= 1
        path.write_bytes(bytes(data))
    return change


def replace_by_folder(path):
    path.unlink()
    path.mkdir()


DAMAGES = {
    "tar deleted": (2, os.unlink, "shard-00001.tar is missing"),
    "tar truncated": (3, lambda p: os.truncate(p, p.stat().st_size - 512), "bytes, not"),
    "tar grown": (1, lambda p: p.open("ab").write(bytes(512)), "bytes, not"),
    "tar end changed": (2, change_byte(-1), "does not end as a tar ends"),
    "tar header changed": (3, change_byte(0), "does not begin with a tar header"),
    "tar a folder": (1, replace_by_folder, "is not a regular file"),
}


@pytest.mark.parametrize("name", DAMAGES)
def test_resume_refuses_a_damaged_tar(tmp_path, inputs, clean, name):
    line, damage, message = DAMAGES[name]
    out, lines = interrupted_copy(clean, tmp_path / "out")
    write_journal(out, lines)
    damage(out / f"shard-{line - 1:05d}.tar")
    done = resume(inputs, out)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith(f"imgprep: {out / 'journal.jsonl'} line {line}: its "), done.stderr
    assert message in done.stderr and "without --resume" in done.stderr


@pytest.mark.parametrize("bytes_value,message", [
    (None, 'no "bytes"'), (2000, "not a multiple of 512"), (512, "not within 1536.."), ("1024", "not an integer")])
def test_resume_refuses_a_journal_line_without_a_sound_size(tmp_path, inputs, clean,
                                                           bytes_value, message):
    out, lines = interrupted_copy(clean, tmp_path / "out")
    if bytes_value is None:
        del lines[1]["bytes"]
    else:
        lines[1]["bytes"] = bytes_value
    write_journal(out, lines)
    done = resume(inputs, out)
    assert done.returncode == 2 and f"journal.jsonl line 2: " in done.stderr, done.stderr
    assert message in done.stderr


def test_resume_refuses_other_settings(tmp_path, inputs, clean):
    out, lines = interrupted_copy(clean, tmp_path / "out")
    write_journal(out, lines)
    other = resume(inputs, out, "--interp", "cubic")
    assert other.returncode == 2 and "--interp" in other.stderr, other.stderr
    images = resume(inputs, out, fmt="wds-images")
    assert images.returncode == 2 and "--format" in images.stderr, images.stderr
    assert resume(inputs, out).returncode == 0
    assert outputs(out) == outputs(clean)

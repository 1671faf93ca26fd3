"""Whole runs over a copy of datasets/sample: shards, labels, manifest, exit codes, determinism,
slicing, image output, error handling and what reaches the terminal.

`clean` is the sample plus a few copies named to test byte-wise ordering; `dirty` is `clean` plus
broken files (truncated JPEG, text named .jpg, empty .png) and a non-image notes.txt."""

import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets
from PIL import Image, ImageOps

from conftest import part_of, run_imgprep, write_list

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
BROKEN = {"objects/truncated.jpg", "animals/bad.jpg", "space/empty.png"}
NPY = ("--preset", "imagenet")


def make_clean(sample, dest):
    shutil.copytree(sample, dest)
    # Byte-wise order puts "more-cats.jpg" ('-' 0x2d) before "more/..." ('/' 0x2f) and "Zebra"
    # before every lower-case name; a per-folder walk or a path-element sort would not.
    (dest / "animals" / "more").mkdir()
    shutil.copy(sample / "animals/chelsea-portrait.jpg", dest / "animals/more/x.jpg")
    shutil.copy(sample / "animals/chelsea-small.png", dest / "animals/more-cats.png")
    shutil.copy(sample / "animals/chelsea-small.png", dest / "animals/Zebra.png")
    return dest


def make_dirty(clean, dest):
    shutil.copytree(clean, dest)
    data = (clean / "objects/coffee.jpg").read_bytes()
    (dest / "objects/truncated.jpg").write_bytes(data[: len(data) // 2])
    (dest / "animals/bad.jpg").write_text("this is not a JPEG\n")
    (dest / "space/empty.png").write_bytes(b"")
    (dest / "textures/notes.txt").write_text("not an image\n")
    return dest


@pytest.fixture(scope="module")
def data(sample_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    clean = make_clean(sample_dir, root / "clean")
    dirty = make_dirty(clean, root / "dirty")
    return clean, dirty


def image_files(folder):
    """Relative paths of the files an ImageFolder-style walk should pick up, byte-wise sorted."""
    rel = [p.relative_to(folder).as_posix() for p in folder.rglob("*")
           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(rel, key=lambda r: r.encode())


def image_folder(folder):
    """torchvision's classes and {relative path: class index}."""
    ds = torchvision.datasets.ImageFolder(str(folder))
    return ds.classes, {Path(p).relative_to(folder).as_posix(): i for p, i in ds.samples}


def upright_size(path):
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).size


def no_part_files(run):
    assert not list(run.out.rglob("*.part")), list(run.out.rglob("*.part"))


def output_files(run):
    """Every file of a run's output folder except meta.json (which records the options)."""
    return {p.relative_to(run.out).as_posix(): p.read_bytes()
            for p in sorted(run.out.rglob("*")) if p.is_file() and p.name != "meta.json"}


@pytest.fixture(scope="module")
def dirty_run(data, tmp_path_factory):
    """The dirty set as npy, 4 images per shard (several shards); not --quiet, for the summary."""
    _, dirty = data
    return run_imgprep(dirty, tmp_path_factory.mktemp("dirty-run") / "out", *NPY,
                       "--shard-size", 4, expect=1, quiet=False)


@pytest.fixture(scope="module")
def clean_run(data, tmp_path_factory):
    clean, _ = data
    return run_imgprep(clean, tmp_path_factory.mktemp("clean-run") / "out", *NPY, expect=0)


# ------------------------------------------------------------------------------------------
# What a run writes
# ------------------------------------------------------------------------------------------

def test_manifest_lists_every_image_in_bytewise_order(data, dirty_run):
    _, dirty = data
    rows = dirty_run.manifest
    assert [r["path"] for r in rows] == image_files(dirty)
    for r in rows:
        if r["path"] in BROKEN:
            assert r["status"] == "failed" and r["error"].strip(), r
        else:
            assert r["status"] == "ok" and "error" not in r, r
            assert (r["width"], r["height"]) == upright_size(dirty / r["path"]), r
    assert dirty_run.row("animals/chelsea-exif6.jpg")["width"] == 451  # upright, not stored
    no_part_files(dirty_run)


def test_shards_load_with_mmap_and_match_manifest(dirty_run):
    ok = [r for r in dirty_run.manifest if r["status"] == "ok"]
    shards = dirty_run.shards()
    assert len(shards) == math.ceil(len(ok) / 4)
    for s in shards:
        assert isinstance(s, np.memmap)
        assert s.dtype == np.float32 and s.shape[1:] == (3, 224, 224)
    assert [len(s) for s in shards] == [min(4, len(ok) - 4 * i) for i in range(len(shards))]
    for k, r in enumerate(ok):  # ok rows fill the shards in manifest order
        assert (r["shard"], r["row"]) == (k // 4, k % 4), r
    for r in dirty_run.manifest:
        if r["status"] == "failed":
            assert "shard" not in r and "row" not in r, r
    values = dirty_run.array()
    assert np.isfinite(values).all()
    assert values.std(axis=(1, 2, 3)).min() > 0.1  # every item holds an image, not padding


def test_labels_and_classes_match_imagefolder(data, dirty_run):
    clean, _ = data
    classes, index = image_folder(clean)
    assert json.loads((dirty_run.out / "classes.json").read_text()) == classes
    labels = [np.load(p) for p in dirty_run.label_files()]
    assert [len(a) for a in labels] == [len(s) for s in dirty_run.shards()]
    assert all(a.dtype == np.int64 for a in labels)
    for r in dirty_run.manifest:
        assert r["label"] == classes.index(r["path"].split("/")[0]), r
        if r["status"] == "ok":
            assert r["label"] == index[r["path"]], r
            assert labels[r["shard"]][r["row"]] == r["label"], r
    assert sorted(r["path"] for r in dirty_run.manifest if r["status"] == "ok") == sorted(index)


def test_summary_on_stdout(dirty_run):
    m = re.search(r"(\d+) processed, (\d+) failed, (\d+) skipped", dirty_run.stdout)
    assert m, dirty_run.stdout
    processed, failed, skipped = map(int, m.groups())
    assert (processed, failed) == (len(dirty_run.ok_paths()), len(BROKEN))
    assert skipped == 2  # notes.txt and ATTRIBUTION.md
    assert re.search(r"[\d.]+ images/s", dirty_run.stdout), dirty_run.stdout
    meta = dirty_run.meta
    assert (meta["failed"], meta["skipped"]) == (failed, skipped)


def test_decoder_warnings_go_to_the_manifest_not_stderr(clean_run):
    assert "libpng" not in clean_run.stderr and clean_run.stderr == "", clean_run.stderr
    warned = {r["path"] for r in clean_run.manifest if r.get("warning")}
    # The sample PNGs with an iCCP chunk carry a profile libpng calls incorrect.
    assert {"animals/chelsea-small.png", "space/astronaut-portrait.png"} <= warned
    assert all("iCCP" in clean_run.row(p)["warning"] for p in warned if p.endswith(".png"))
    assert clean_run.row("textures/gravel.png").get("warning") is None


# ------------------------------------------------------------------------------------------
# Exit codes
# ------------------------------------------------------------------------------------------

def one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), text
    return lines[0]


def test_exit_code_zero_when_all_ok(clean_run):
    assert clean_run.rc == 0
    assert all(r["status"] == "ok" for r in clean_run.manifest)


def test_missing_input_is_a_usage_error(imgprep, tmp_path):
    run = imgprep(tmp_path / "nowhere", *NPY, expect=2)
    one_line(run.stderr)
    assert not run.out.exists()


def test_output_that_is_a_file_is_a_usage_error(imgprep, data, tmp_path):
    clean, _ = data
    target = tmp_path / "file"
    target.write_text("keep me")
    run = run_imgprep(clean, target, *NPY, expect=2)
    one_line(run.stderr)
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("args", [("--resize", "bogus"), ("--crop", "middle:3"),
                                  ("--dtype", "int8"), ("--no-such-option",),
                                  ("--resize", "shorter:64")])  # npy needs a fixed size
def test_bad_options_are_usage_errors(imgprep, data, args):
    clean, _ = data
    run = imgprep(clean, *args, expect=2)
    one_line(run.stderr)
    assert not run.out.exists()


# ------------------------------------------------------------------------------------------
# Same bytes however the work is split
# ------------------------------------------------------------------------------------------

def test_shard_size_splits_without_changing_values(imgprep, data, clean_run):
    clean, _ = data
    split = imgprep(clean, *NPY, "--shard-size", 5)
    n = len(clean_run.ok_paths())
    assert len(split.shard_files()) == math.ceil(n / 5) == len(split.label_files())
    assert len(clean_run.shard_files()) == 1
    assert np.array_equal(split.array(), clean_run.array())
    assert np.array_equal(split.labels(), clean_run.labels())


@pytest.mark.parametrize("a,b", [(("--threads", 1), ("--threads", 2)),
                                 (("--io-threads", 1), ("--io-threads", 3)),
                                 (("--threads", 1, "--in-flight", 1), ("--threads", 2, "--in-flight", 64))])
def test_outputs_do_not_depend_on_thread_counts(imgprep, data, a, b):
    _, dirty = data
    first = imgprep(dirty, *NPY, "--shard-size", 5, *a, expect=1)
    second = imgprep(dirty, *NPY, "--shard-size", 5, *b, expect=1)
    assert output_files(first) == output_files(second)


def test_input_slices_cover_everything_once(imgprep, data, dirty_run):
    _, dirty = data
    parts = [part_of(imgprep(dirty, *NPY, "--shard-size", 4, "--shard", f"{k}/2", expect=None),
                     k, 2) for k in range(2)]
    paths = [[r["path"] for r in p.manifest] for p in parts]
    assert sorted(paths[0] + paths[1]) == sorted(r["path"] for r in dirty_run.manifest)
    assert not set(paths[0]) & set(paths[1])
    assert abs(len(paths[0]) - len(paths[1])) <= 1
    full = dirty_run.outputs()
    for part in parts:
        assert part.rc == (1 if part.failed() else 0)
        for path, item in part.outputs().items():
            assert np.array_equal(item, full[path]), path


# ------------------------------------------------------------------------------------------
# Image output
# ------------------------------------------------------------------------------------------

def shorter_size(w, h, s):
    """torchvision Resize(int): short side S, long side truncated."""
    return (s, int(s * h / w)) if w <= h else (int(s * w / h), s)


@pytest.mark.parametrize("fmt,pil_format", [("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_images_mirror_the_tree(imgprep, data, fmt, pil_format):
    clean, _ = data
    run = imgprep(clean, "--format", "images", "--image-format", fmt, "--resize", "shorter:64")
    rows = run.manifest
    assert [r["path"] for r in rows] == image_files(clean)
    written = sorted(p.relative_to(run.out).as_posix() for p in run.out.rglob("*")
                     if p.is_file() and p.name not in {"manifest.jsonl", "meta.json", "classes.json"})
    assert written == sorted(r["output"] for r in rows)
    for r in rows:
        src = r["path"]
        assert r["output"] == src[: src.rindex(".")] + "." + fmt, r
        with Image.open(run.out / r["output"]) as im:
            assert im.format == pil_format
            assert im.size == shorter_size(*upright_size(clean / src), 64), r
            im.load()
    no_part_files(run)


def test_images_never_land_outside_out(imgprep, tmp_path, sample_dir):
    """List entries with '..' and absolute paths still write inside OUT, one file per input."""
    (tmp_path / "imgs").mkdir()
    (tmp_path / "lists").mkdir()
    shutil.copy(sample_dir / "animals/chelsea-small.png", tmp_path / "imgs/a.png")
    shutil.copy(sample_dir / "objects/coffee.jpg", tmp_path / "b.jpg")
    shutil.copy(sample_dir / "objects/coffee-small.bmp", tmp_path / "imgs/a.bmp")
    listing = write_list(tmp_path / "lists/list.txt",
                         ["../imgs/a.png", "../imgs/a.bmp", str(tmp_path / "b.jpg"), "../b.jpg",
                          "../lists/../b.jpg"])
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "lists" / "out"
    run = run_imgprep(listing, out, "--format", "images", "--image-format", "png",
                      "--resize", "longer:32")
    created = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in created if out not in p.parents and p != out]
    assert not outside, outside
    outputs = [r["output"] for r in run.manifest]
    assert len(set(outputs)) == len(outputs) == 5, outputs  # no input overwrites another
    for o in outputs:
        path = (out / o).resolve()
        assert out.resolve() in path.parents and path.is_file(), o
        with Image.open(path) as im:
            assert max(im.size) == 32


# ------------------------------------------------------------------------------------------
# Errors and the terminal
# ------------------------------------------------------------------------------------------

def test_max_errors_zero_stops_early(imgprep, data):
    _, dirty = data
    # One worker and one image in flight: the first failure (animals/bad.jpg, early in byte order)
    # is seen before most images are read.
    run = imgprep(dirty, *NPY, "--max-errors", 0, "--threads", 1, "--io-threads", 1,
                  "--in-flight", 1, expect=1)
    rows = run.manifest
    assert len(rows) < len(image_files(dirty)) / 2, [r["path"] for r in rows]
    assert sum(r["status"] == "failed" for r in rows) == 1
    assert sum(len(s) for s in run.shards()) == len(run.ok_paths())
    no_part_files(run)


def test_max_errors_above_failures_runs_to_the_end(imgprep, data):
    _, dirty = data
    run = imgprep(dirty, *NPY, "--max-errors", len(BROKEN), expect=1)
    assert len(run.manifest) == len(image_files(dirty))


def test_quiet_prints_nothing_on_stderr(clean_run):
    assert clean_run.stderr == ""


def test_quiet_prints_no_summary(clean_run):
    assert clean_run.stdout == ""


def test_progress_ends_with_the_totals(dirty_run):
    """Without a terminal and in a run shorter than a progress period, the totals line alone."""
    last = dirty_run.stderr.splitlines()[-1]
    m = re.fullmatch(r"imgprep: (\d+)/(\d+) images, (\d+) failed in \d+:\d\d:\d\d \(\d+ images/s\)", last)
    assert m, dirty_run.stderr
    done, total, failed = map(int, m.groups())
    assert done == total == len(dirty_run.manifest) and failed == len(BROKEN)


def test_progress_is_plain_lines_when_stderr_is_not_a_tty(imgprep, tmp_path, sample_dir):
    """Progress without a terminal is a plain line every few seconds: no carriage returns or
    escape codes. A list that repeats a large JPEG keeps one thread busy for several seconds."""
    big = sample_dir / "objects/coffee-1600x1200.jpg"
    listing = write_list(tmp_path / "list.txt", [big] * 520)
    start = time.monotonic()
    run = imgprep(listing, "--resize", "8x8", "--interp", "lanczos", "--no-shrink-on-load",
                  "--threads", 1, "--io-threads", 1, quiet=False)
    elapsed = time.monotonic() - start
    assert "\r" not in run.stderr and "\x1b" not in run.stderr, repr(run.stderr)
    lines = run.stderr.splitlines()
    for line in lines:
        assert re.fullmatch(r"imgprep: \d+/520 images, .*", line), line
    if elapsed > 6:
        assert lines, f"no progress line in a {elapsed:.1f} s run"
    assert "520 processed" in run.stdout


def test_an_image_given_as_input_is_a_usage_error(imgprep, sample_dir):
    image = sorted(sample_dir.rglob("*.jpg"))[0]
    run = imgprep(image, "--preset", "imagenet", expect=2)
    assert "INPUT is an image, not a folder or a list file" in run.stderr


def test_class_folder_names_need_not_be_utf8(imgprep, sample_dir, tmp_path):
    images = sorted(sample_dir.rglob("*.jpg"))[:2]
    root = tmp_path / "in"
    for name, image in zip([b"caf\xe9", b"tea"], images):
        folder = os.path.join(os.fsencode(root), name)
        os.makedirs(folder)
        shutil.copy(image, os.path.join(folder, b"a.jpg"))
    run = imgprep(root, "--preset", "imagenet")
    assert json.loads((run.out / "classes.json").read_text()) == ["caf\ufffd", "tea"]
    assert run.labels().tolist() == [0, 1]
    assert run.array().shape == (2, 3, 224, 224)
    assert [r["status"] for r in run.manifest] == ["ok", "ok"]

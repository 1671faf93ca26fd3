"""OUT can never harm the inputs nor be corrupted: an OUT that is INPUT or holds it is refused, an
OUT inside INPUT is left out of the walk, a list entry inside OUT fails, no output replaces an
input; one run at a time writes into an OUT (a lock that a killed run does not leave held); no
write follows a symlink imgprep did not make; every input gets an output name of its own, and a
name that cannot be written fails only its row; a full disk still leaves the manifest of what is
complete."""

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
from PIL import Image

from conftest import IMGPREP, files_under, run_imgprep, write_list

IMAGES = ["--format", "images", "--image-format", "png", "--resize", "shorter:16"]
NPY = ["--resize", "8x8", "--dtype", "uint8"]


def tree_bytes(folder):
    """{relative path: bytes} of every file below folder (symlinks not followed)."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def solid(path, colour, size=(24, 20)):
    """A PNG (or any format the suffix names) of one colour: its outputs tell which input made
    them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG" if path.suffix != ".jpg" else "JPEG")
    return path


def colour_of(path):
    with Image.open(path) as im:
        return tuple(int(v) for v in np.asarray(im.convert("RGB")).reshape(-1, 3).mean(0).round())


@pytest.fixture
def classes(tmp_path):
    """An ImageFolder tree of two classes, each image a colour of its own."""
    root = tmp_path / "in"
    solid(root / "cats/a.png", (200, 10, 10))
    solid(root / "cats/b.png", (10, 200, 10))
    solid(root / "dogs/c.png", (10, 10, 200))
    return root


# ------------------------------------------------------------------------------------------
# OUT and INPUT
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", [IMAGES, NPY], ids=["images", "npy"])
@pytest.mark.parametrize("spelling", ["same", "dot", "dotdot", "symlink"])
def test_out_that_is_input_is_refused(classes, tmp_path, fmt, spelling):
    """Whatever the spelling, nothing is written and every input keeps its bytes."""
    (tmp_path / "link").symlink_to(classes)
    out = {"same": classes, "dot": classes / ".", "dotdot": classes / "cats" / "..",
           "symlink": tmp_path / "link"}[spelling]
    before = tree_bytes(classes)
    run = run_imgprep(classes, out, *fmt, expect=2)
    assert "OUT is INPUT" in run.stderr, run.stderr
    assert tree_bytes(classes) == before
    assert files_under(classes) == sorted(before)


@pytest.mark.parametrize("fmt", [IMAGES, NPY], ids=["images", "npy"])
def test_input_inside_out_is_refused(classes, tmp_path, fmt):
    """INPUT below OUT, directly, through a symlink, and as a list file."""
    listing = write_list(classes / "list.txt", ["cats/a.png"])
    (tmp_path / "up").symlink_to(tmp_path)
    before = tree_bytes(tmp_path)
    for inp, out in [(classes, tmp_path), (classes / "cats", tmp_path / "up" / "in"),
                     (listing, classes)]:
        run = run_imgprep(inp, out, *fmt, expect=2)
        assert "is inside OUT" in run.stderr, run.stderr
    assert tree_bytes(tmp_path) == before


@pytest.mark.parametrize("fmt", [IMAGES, NPY], ids=["images", "npy"])
def test_out_inside_input_is_left_out_of_the_walk(classes, tmp_path, fmt):
    """Runs into OUT inside INPUT list the same inputs and classes as a run into an OUT elsewhere:
    never the images in OUT (its own outputs, or any other), never a class named after OUT, also
    through a symlink to OUT."""
    reference = run_imgprep(classes, tmp_path / "elsewhere", *fmt)
    out = classes / "out"
    (classes / "dogs" / "to-out").symlink_to(out, target_is_directory=True)
    solid(out / "stray.png", (0, 0, 0))
    for _ in range(2):
        run = run_imgprep(classes, out, *fmt)
        assert [r["path"] for r in run.manifest] == [r["path"] for r in reference.manifest]
        assert json.loads((out / "classes.json").read_text()) == ["cats", "dogs"]
    if "images" in fmt:
        assert tree_bytes(out).keys() - {"stray.png"} == tree_bytes(reference.out).keys()
    else:
        np.testing.assert_array_equal(run.array(), reference.array())
        np.testing.assert_array_equal(run.labels(), reference.labels())


@pytest.mark.parametrize("fmt", [IMAGES, NPY], ids=["images", "npy"])
def test_list_entries_inside_out_fail(tmp_path, fmt):
    """A listed file in OUT, or below it, is a failed row; the others are processed."""
    out = tmp_path / "out"
    inside = solid(out / "x.png", (1, 2, 3))
    deeper = solid(out / "sub" / "y.png", (4, 5, 6))
    outside = solid(tmp_path / "z.png", (7, 8, 9))
    listing = write_list(tmp_path / "list.txt", [inside, outside, "out/sub/../sub/y.png"])
    before = {p: p.read_bytes() for p in (inside, deeper)}
    run = run_imgprep(listing, out, *fmt, expect=1)
    failed = run.failed()
    assert sorted(failed) == sorted([str(inside), "out/sub/../sub/y.png"])
    assert all("inside OUT" in r["error"] for r in failed.values()), failed
    assert run.row(str(outside))["status"] == "ok"
    assert {p: p.read_bytes() for p in before} == before


def test_images_never_replace_an_input(tmp_path):
    """A list may reach a file in OUT through a symlink: an output that would replace it fails its
    row, and the file keeps its bytes."""
    out = tmp_path / "out"
    victim = solid(out / "x.png", (9, 9, 9))
    original = victim.read_bytes()
    (tmp_path / "alias.png").symlink_to(victim)
    solid(tmp_path / "x.png", (200, 0, 0))  # its output is OUT/x.png
    listing = write_list(tmp_path / "list.txt", ["alias.png", "x.png"])
    run = run_imgprep(listing, out, *IMAGES, expect=1)
    assert victim.read_bytes() == original
    assert "one of this run's inputs" in run.row("x.png")["error"]
    assert colour_of(out / run.row("alias.png")["output"]) == (9, 9, 9)


# ------------------------------------------------------------------------------------------
# One run at a time
# ------------------------------------------------------------------------------------------

def start_and_stop(listing, out, *args):
    """Starts a run, waits until it has OUT (meta.json written), and stops it (SIGSTOP)."""
    proc = subprocess.Popen([str(IMGPREP), "run", str(listing), "-o", str(out), *args, "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (out / "meta.json").exists():
        assert proc.poll() is None and time.time() < deadline, "the first run did not start"
        time.sleep(0.002)
    proc.send_signal(signal.SIGSTOP)
    return proc


@pytest.mark.parametrize("fmt", [IMAGES, NPY], ids=["images", "npy"])
def test_a_busy_out_is_refused_and_a_killed_run_does_not_hold_it(tmp_path, sample_dir, fmt):
    images = sorted(p for p in sample_dir.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    listing = write_list(tmp_path / "list.txt", images * 40)
    args = [*fmt, "--threads", "1", *(["--shard-size", "4"] if fmt is NPY else [])]
    out = tmp_path / "out"
    first = start_and_stop(listing, out, *args)
    try:
        second = [run_imgprep(listing, out, *args, expect=2, timeout=30)]
        if "images" not in fmt:
            second.append(run_imgprep(listing, out, *args, "--resume", expect=2, timeout=30))
        for run in second:
            assert "in use by another imgprep run" in run.stderr, run.stderr
            assert f"pid {first.pid}" in run.stderr, run.stderr
    finally:
        first.kill()
        first.wait()
    short = write_list(tmp_path / "short.txt", images[:3])
    if "images" not in fmt:  # the killed run is resumed; then OUT is free for any run
        resumed = run_imgprep(listing, out, *args, "--resume", timeout=600)
        assert len(resumed.manifest) == len(images) * 40
    run = run_imgprep(short, out, *args)
    assert [r["path"] for r in run.manifest] == [str(p) for p in images[:3]]
    assert not list(out.glob(".imgprep.lock*")), "the lock file outlived its run"


# ------------------------------------------------------------------------------------------
# Symlinks in OUT
# ------------------------------------------------------------------------------------------

NPY_NAMES = ["meta.json", "meta.json.part", "manifest.jsonl", "manifest.jsonl.part",
             "shard-00000.npy", "shard-00000.npy.part", "labels-00000.npy",
             "labels-00000.npy.part", "classes.json", "classes.json.part", "shard-00001.npy"]


def victims(folder, names):
    """A file outside OUT for each name, with known bytes."""
    folder.mkdir()
    return {name: (folder / name.replace("/", "_"), f"not imgprep's: {name}\n".encode())
            for name in names}


def plant(out, victims_by_name):
    for name, (victim, content) in victims_by_name.items():
        victim.write_bytes(content)
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).symlink_to(victim)


def assert_untouched(victims_by_name):
    for name, (victim, content) in victims_by_name.items():
        assert victim.read_bytes() == content, f"written through the symlink {name}"


def test_npy_writes_never_follow_symlinks(classes, tmp_path):
    """Symlinks at every name an npy run writes: the files they lead to keep their bytes and the
    names end up holding the run's own files."""
    out = tmp_path / "out"
    planted = victims(tmp_path / "victims", NPY_NAMES)
    plant(out, planted)
    run = run_imgprep(classes, out, *NPY, "--shard-size", "2")
    assert_untouched(planted)
    for name in ["meta.json", "manifest.jsonl", "shard-00000.npy", "labels-00000.npy",
                 "classes.json", "shard-00001.npy"]:
        assert (out / name).is_file() and not (out / name).is_symlink(), name
    assert run.array().shape == (3, 3, 8, 8)
    assert not list(out.glob("*.part"))


@pytest.mark.parametrize("name", ["journal.jsonl", ".imgprep.lock"])
def test_run_state_files_never_follow_symlinks(classes, tmp_path, name):
    """The journal and the lock: a symlink at their name is refused, or replaced, never written
    through (also by --resume)."""
    out = tmp_path / "out"
    planted = victims(tmp_path / "victims", [name])
    plant(out, planted)
    for extra in ([], ["--resume"]):
        run_imgprep(classes, out, *NPY, "--shard-size", "2", *extra, expect=None)
        assert_untouched(planted)


def test_images_never_follow_symlinks(classes, tmp_path):
    """A symlinked class folder fails its rows (nothing lands outside OUT); symlinks at an output's
    name or temporary name are replaced, their targets untouched."""
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "dogs").symlink_to(elsewhere, target_is_directory=True)
    planted = victims(tmp_path / "victims",
                      ["cats/a.png", "cats/b.png.part", "manifest.jsonl.part"])
    plant(out, planted)
    run = run_imgprep(classes, out, *IMAGES, expect=1)
    assert_untouched(planted)
    assert list(elsewhere.iterdir()) == []
    assert "symbolic link" in run.row("dogs/c.png")["error"], run.row("dogs/c.png")
    assert colour_of(out / "cats/a.png") == (200, 10, 10)
    assert colour_of(out / "cats/b.png") == (10, 200, 10)
    assert not (out / "cats/a.png").is_symlink()


# ------------------------------------------------------------------------------------------
# Output names
# ------------------------------------------------------------------------------------------

def test_long_names_fail_alone(tmp_path):
    """An output name that just fits is written (its temporary name fits too); one that cannot
    fit fails its row, and the run goes on and writes its manifest."""
    src = tmp_path / "src"
    fits = solid(src / ("f" * 251 + ".png"), (50, 60, 70))          # 255 bytes as .png
    fits_jpg = solid(src / ("g" * 250 + ".png"), (80, 90, 100))     # 254 bytes
    too_long = solid(src / ("h" * 255), (110, 120, 130))            # + ".png" is 259 bytes
    short = solid(src / "s.png", (1, 1, 1))
    run = run_imgprep(src, tmp_path / "out", *IMAGES, expect=1)
    assert [r["status"] for r in run.manifest] == ["ok", "ok", "failed", "ok"]
    assert "too long" in run.row(too_long.name)["error"]
    for path in (fits, fits_jpg, short):
        assert colour_of(run.out / run.row(path.name)["output"]) == colour_of(path)
    assert not list(run.out.rglob("*.part"))


def test_colliding_output_names_each_get_a_file(tmp_path):
    """Entries whose output names collide (same stem, same normalised path, a name that is another
    entry's fallback, a file where another's folder is): every row gets a file of its own,
    holding its own image, and the names depend only on the list."""
    files = ["a.png.png", "a.jpg", "a.png", "a.jpg.png", "a-2.png", "x/a.jpg", "b.png",
             "b/c.png", "b.jpg", "c.jpg", "c.png/d.png"]
    for i, name in enumerate(files):
        solid(tmp_path / "lists" / name, (20 * i, 255 - 20 * i, 7 * i))
    entries = [*files[:6], "../lists/x/a.jpg", "./x/a.jpg", "x/../x/a.jpg", *files[6:]]
    listing = write_list(tmp_path / "lists" / "list.txt", entries)
    runs = [run_imgprep(listing, tmp_path / f"out{t}", *IMAGES, "--threads", t) for t in (1, 2)]
    outputs = [r["output"] for r in runs[0].manifest]
    assert [r["output"] for r in runs[1].manifest] == outputs
    assert len(set(outputs)) == len(entries), outputs
    assert len(files_under(runs[0].out)) == len(entries) + 2  # + manifest.jsonl, meta.json
    for row in runs[0].manifest:
        source = (tmp_path / "lists" / row["path"]).resolve()
        assert colour_of(runs[0].out / row["output"]) == colour_of(source), row


# ------------------------------------------------------------------------------------------
# A full disk
# ------------------------------------------------------------------------------------------

def noise(path, side):
    """A PNG that does not compress: its output (no resize) is about 3 * side * side bytes."""
    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def small_then_large(tmp_path):
    """Three small inputs, a large one, one more small one, listed in that order."""
    src = tmp_path / "src"
    src.mkdir()
    files = [noise(src / f"{i}.png", side) for i, side in enumerate([40, 40, 40, 160, 40])]
    return write_list(tmp_path / "list.txt", files), files


def assert_stopped_with_a_manifest(run, files, error):
    assert run.rc == 2, run
    assert error in run.stderr, run.stderr
    rows = run.manifest
    assert [r["path"] for r in rows] == [str(f) for f in files[:len(rows)]]
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows), rows
    for row, source in zip(rows, files):
        with Image.open(run.out / row["output"]) as out, Image.open(source) as src:
            np.testing.assert_array_equal(np.asarray(out), np.asarray(src))
    assert not (run.out / "journal.jsonl").exists()
    assert not list(run.out.rglob("*.part"))


def limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_too_large_for_the_disk_leaves_the_manifest(tmp_path, small_then_large):
    listing, files = small_then_large
    run = run_imgprep(listing, tmp_path / "out", "--format", "images", "--image-format", "png",
                      "--threads", "1", expect=None, preexec_fn=limit_file_size(32 << 10))
    assert_stopped_with_a_manifest(run, files, "File too large")


def test_a_full_disk_leaves_the_manifest(tmp_path, small_then_large):
    listing, files = small_then_large
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        run = run_imgprep(listing, disk / "out", "--format", "images", "--image-format", "png",
                          "--threads", "1", expect=None)
        assert_stopped_with_a_manifest(run, files, "No space left on device")
    finally:
        subprocess.run(["umount", str(disk)], check=True)

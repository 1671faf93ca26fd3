"""Shared helpers for the end-to-end tests of the `imgprep` command.

Every test runs the real binary on real files and reads what it wrote with numpy, then compares
with an independent reference (Pillow, OpenCV, torchvision).

Environment (set by CTest; the fallbacks let `pytest tests/python` work from a build tree):
  IMGPREP           the imgprep binary (default: build/bin/imgprep)
  IMGPREP_FIXTURES  output of tests/fixtures/make_fixtures.py (default: generated per session)
  IMGPREP_SAMPLE    datasets/sample
"""

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[2]
IMGPREP = Path(os.environ.get("IMGPREP", REPO / "build" / "bin" / "imgprep"))
SAMPLE = Path(os.environ.get("IMGPREP_SAMPLE", REPO / "datasets" / "sample"))


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory):
    """The generated fixture tree (exif/, formats/, bad/, sizes/)."""
    if os.environ.get("IMGPREP_FIXTURES"):
        path = Path(os.environ["IMGPREP_FIXTURES"])
    else:
        path = tmp_path_factory.mktemp("fixtures")
        subprocess.run([sys.executable, str(REPO / "tests/fixtures/make_fixtures.py"), str(path)],
                       check=True, capture_output=True)
    assert (path / "sizes").is_dir(), f"no fixtures in {path}"
    return path


@pytest.fixture(scope="session")
def sample_dir():
    assert SAMPLE.is_dir(), f"no sample data set at {SAMPLE}"
    return SAMPLE


# --------------------------------------------------------------------------------------------
# Running imgprep and reading its outputs
# --------------------------------------------------------------------------------------------

class Run:
    """One finished `imgprep run`: exit code, captured streams and the output folder."""

    def __init__(self, proc, out):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.out = Path(out)

    def __repr__(self):
        return f"Run(rc={self.rc}, out={self.out}, stderr={self.stderr!r})"

    @property
    def manifest(self):
        with open(self.out / "manifest.jsonl") as f:
            return [json.loads(line) for line in f if line.strip()]

    def row(self, path):
        rows = [r for r in self.manifest if r["path"] == path]
        assert len(rows) == 1, f"{path}: {len(rows)} manifest rows"
        return rows[0]

    @property
    def meta(self):
        return json.loads((self.out / "meta.json").read_text())

    def shard_files(self):
        return sorted(self.out.glob("shard-*.npy"))

    def label_files(self):
        return sorted(self.out.glob("labels-*.npy"))

    def shards(self):
        return [np.load(p, mmap_mode="r") for p in self.shard_files()]

    def array(self):
        """All shards concatenated along the first axis."""
        return np.concatenate([np.asarray(s) for s in self.shards()])

    def labels(self):
        return np.concatenate([np.load(p) for p in self.label_files()])

    def output(self, path):
        """The npy item written for the input `path` (as the manifest names it)."""
        row = self.row(path)
        assert row["status"] == "ok", row
        shard = np.load(self.out / f"shard-{row['shard']:05d}.npy", mmap_mode="r")
        return np.array(shard[row["row"]])

    def outputs(self):
        """{manifest path: npy item} for every ok row."""
        shards = [np.asarray(s) for s in self.shards()]
        return {r["path"]: shards[r["shard"]][r["row"]]
                for r in self.manifest if r["status"] == "ok"}

    def ok_paths(self):
        return [r["path"] for r in self.manifest if r["status"] == "ok"]

    def failed(self):
        return {r["path"]: r for r in self.manifest if r["status"] == "failed"}


def run_imgprep(inp, out, *args, expect=0, quiet=True, binary=IMGPREP, timeout=300, **kwargs):
    """Runs `BINARY run INPUT -o OUT ARGS...` (BINARY: imgprep); asserts the exit code unless
    expect is None. kwargs go to subprocess.run (env=...)."""
    cmd = [str(binary), "run", str(inp), "-o", str(out), *map(str, args)]
    if quiet:
        cmd.append("-q")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    run = Run(proc, out)
    if expect is not None:
        assert run.rc == expect, f"{' '.join(cmd)}\nrc={run.rc}\nstdout:{run.stdout}\nstderr:{run.stderr}"
    return run


def sample_with_failures(root):
    """A copy of the sample set at root with sample-bad's three failing files in one class: 20
    inputs, 17 that succeed. Returns root."""
    root = Path(root)
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("*.md"))
    for name in ("truncated.jpg", "not-an-image.jpg", "empty.png"):
        shutil.copy(SAMPLE.parent / "sample-bad" / name, root / "animals" / name)
    return root


def manifest_rows(out):
    """OUT's manifest.jsonl, a dict per row."""
    with open(Path(out) / "manifest.jsonl") as f:
        return [json.loads(line) for line in f]


def without_location(rows):
    """Manifest rows without their place in the shards (which parts and merges renumber)."""
    return [{k: v for k, v in r.items() if k not in ("shard", "row")} for r in rows]


def ok_tensors(out):
    """(path, tensor, label) of every ok row of OUT's npy shards, in manifest order, as numpy
    reads them; label is None without label shards."""
    out = Path(out)
    shards, labels, found = {}, {}, []
    for r in manifest_rows(out):
        if r["status"] != "ok":
            continue
        s = r["shard"]
        if s not in shards:
            shards[s] = np.load(out / f"shard-{s:05d}.npy")
            labels_file = out / f"labels-{s:05d}.npy"
            labels[s] = np.load(labels_file) if labels_file.exists() else None
        label = None if labels[s] is None else int(labels[s][r["row"]])
        found.append((r["path"], shards[s][r["row"]], label))
    return found


def part_of(run, k, n):
    """The Run of a `--shard K/N` run, reading the part folder it wrote in OUT."""
    run.out = run.out / f"part-{k:05d}-of-{n:05d}"
    return run


def files_under(folder):
    """Every file below folder, as sorted relative paths."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def npy_crc(run):
    """CRC-32 of every ok row's tensor bytes, in manifest (input) order."""
    shards = [np.load(p) for p in run.shard_files()]
    crc = 0
    for row in run.manifest:
        if row["status"] == "ok":
            crc = zlib.crc32(np.ascontiguousarray(shards[row["shard"]][row["row"]]).tobytes(), crc)
    return f"{crc:08x}"


@pytest.fixture
def imgprep(tmp_path):
    """run_imgprep writing into a fresh tmp_path/out-N folder: imgprep(INPUT, *args, expect=0)."""
    counter = iter(range(1_000_000))

    def go(inp, *args, **kwargs):
        return run_imgprep(inp, tmp_path / f"out-{next(counter)}", *args, **kwargs)

    return go


def write_list(path, files):
    """A list-file INPUT naming `files`, one per line."""
    path = Path(path)
    path.write_text("".join(f"{f}\n" for f in files))
    return path


def copy_files(files, dest):
    """Copies files into one flat folder; returns it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, dest / Path(f).name)
    return dest


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------

def pil_open_rgb(path, exif=True):
    """The upright (EXIF-applied) image as PIL RGB, the way torchvision users load it."""
    with Image.open(path) as im:
        im.load()
        if exif:
            im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


def max_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    if a.size == 0:
        return 0.0
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def mean_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def letterbox_reference(img, width, height, pad=114):
    """Ultralytics' LetterBox (auto=False, scaleup=True, center=True), written out independently
    with OpenCV: cv2.resize INTER_LINEAR, then a constant border. Python round is half-to-even.
    Returns None where Ultralytics would ask cv2 for an empty image."""
    import cv2

    h, w = img.shape[:2]
    r = min(width / w, height / h)
    nw, nh = int(round(w * r)), int(round(h * r))
    if nw == 0 or nh == 0:
        return None
    dw, dh = (width - nw) / 2, (height - nh) / 2
    if (w, h) != (nw, nh):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                              value=(pad, pad, pad))


def report(request, text):
    """Records a finding in the test report (shown with -rA / in the JUnit XML) and on stdout."""
    request.node.user_properties.append(("finding", text))
    print(text)


# --------------------------------------------------------------------------------------------
# Resize test inputs (test_resize_pillow, test_resize_opencv)
# --------------------------------------------------------------------------------------------

# Scale factors named for the 500x375 / 375x500 fixtures; the other inputs get other factors.
RESIZE_TARGETS = [(340, 255), (250, 188), (115, 86), (1150, 862), (76, 39), (600, 100)]
RESIZE_SAMPLE_PNGS = ["animals/chelsea-small.png", "space/astronaut-portrait.png",
                      "textures/gravel.png"]


def resize_inputs(fixtures_dir, sample_dir, tmp_path_factory):
    """Lossless inputs for resize comparisons, copied into one folder: (folder, [paths])."""
    files = (sorted((fixtures_dir / "sizes").glob("*.png")) +
             [sample_dir / p for p in RESIZE_SAMPLE_PNGS])
    folder = copy_files(files, tmp_path_factory.mktemp("resize-inputs"))
    return folder, [folder / f.name for f in files]

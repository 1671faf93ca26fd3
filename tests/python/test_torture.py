"""The torture set (tests/torture/make_torture.py): hostile, odd and borderline inputs.

Whatever the engine and the thread count, and however often it runs, imgprep must write the same
bytes: every shard, label file, manifest and image file. Every row is either ok with the pixels
the named library gives, or failed with a reason; nothing is printed by the decoders, and every
manifest path names its file again, whatever bytes the name holds."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from conftest import REPO, files_under, run_imgprep

IMAGENET = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                      T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
# One uint8 level after normalisation, for the smallest std.
IMAGENET_TOL = 1.0 / 255 / 0.224 + 1e-5

# (engine options, label): 1 and 2 threads under tbb, 1 and 2 worker processes under procs.
ENGINES = [(["--cpu-engine", "tbb", "--threads", "1"], "tbb-1"),
           (["--cpu-engine", "tbb", "--threads", "2"], "tbb-2"),
           (["--cpu-engine", "procs", "--workers", "1"], "procs-1"),
           (["--cpu-engine", "procs", "--workers", "2"], "procs-2")]


@pytest.fixture(scope="module")
def torture(tmp_path_factory):
    root = tmp_path_factory.mktemp("torture") / "set"
    subprocess.run([sys.executable, str(REPO / "tests/torture/make_torture.py"), str(root)],
                   check=True)
    return root


def output_bytes(out):
    """{relative path: bytes} of everything a run wrote that depends on inputs and settings
    (meta.json also records the engine and thread counts, so it is left out)."""
    return {rel: (out / rel).read_bytes() for rel in files_under(out) if rel != "meta.json"}


def differences(a, b):
    return sorted(set(a) ^ set(b)) + sorted(k for k in set(a) & set(b) if a[k] != b[k])


@pytest.fixture(scope="module")
def npy_runs(torture, tmp_path_factory):
    """Two runs of every engine configuration, --preset imagenet, npy shards."""
    base = tmp_path_factory.mktemp("npy-runs")
    runs = {}
    for options, label in ENGINES:
        for attempt in (1, 2):
            runs[(label, attempt)] = run_imgprep(torture, base / f"{label}-{attempt}",
                                                 "--preset", "imagenet", "--shard-size", "16",
                                                 *options, expect=1)
    return runs


def test_npy_outputs_identical_on_every_engine_and_run(npy_runs):
    reference = output_bytes(npy_runs[("tbb-1", 1)].out)
    assert any(k.startswith("shard-") for k in reference)
    for key, run in npy_runs.items():
        assert differences(output_bytes(run.out), reference) == [], key


def test_images_outputs_identical_on_every_engine(torture, tmp_path):
    outputs = {}
    for options, label in ENGINES[1:3]:
        run = run_imgprep(torture, tmp_path / label, "--format", "images", "--resize",
                          "shorter:40", "--image-format", "png", *options, expect=1)
        outputs[label] = output_bytes(run.out)
    first, second = outputs.values()
    assert any(k.endswith(".png") for k in first)
    assert differences(first, second) == []


def test_decoders_print_nothing(npy_runs):
    for key, run in npy_runs.items():
        own = [line for line in run.stderr.splitlines() if line and not line.startswith(
            ("imgprep:", "  "))]
        assert own == [], (key, own)


def test_every_manifest_path_names_its_file(torture, npy_runs):
    """Names that are not UTF-8, hold newlines, quotes or backslashes: the manifest's path (JSON
    text; bytes that are not UTF-8 as the lone surrogates U+DC80..U+DCFF, as Python's
    os.fsencode takes them) leads back to the file."""
    run = npy_runs[("tbb-1", 1)]
    paths = [row["path"] for row in run.manifest]
    assert len(paths) == len(set(paths))
    for path in paths:
        assert os.path.lexists(os.fsencode(torture) + b"/" + os.fsencode(path)), repr(path)
    assert any(b"\xe9" in os.fsencode(p) for p in paths)
    assert any("\n" in p for p in paths)


def test_every_row_is_ok_or_has_a_reason(npy_runs):
    run = npy_runs[("tbb-1", 1)]
    for row in run.manifest:
        assert row["status"] in ("ok", "failed"), row
        if row["status"] == "failed":
            assert row["error"].strip(), row


def test_abbreviated_jpegs(npy_runs):
    """No quantisation tables: nothing to decode with. No Huffman tables: the standard ones (as
    in MJPEG), never those of the image decoded before."""
    run = npy_runs[("tbb-1", 1)]
    assert run.row("jpeg/no-dqt.jpg")["status"] == "failed"
    for name in ("jpeg/no-dht-standard-tables.jpg", "jpeg/zz-no-dht-after-optimised.jpg"):
        assert run.row(name)["status"] == "ok"


def pillow_8bit_rgb(path):
    """The file as Pillow decodes it, or None where Pillow cannot or where it is not a plain
    8-bit image (16-bit samples are narrowed differently by design; see README)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK"):
                return None
            return im.convert("RGB")
    except Exception:
        return None


def test_ok_rows_match_torchvision(torture, tmp_path):
    """At full decode, every ok row of a file that Pillow reads as 8 bits a sample is the
    torchvision ImageNet transform of Pillow's decode, within one level."""
    run = run_imgprep(torture, tmp_path / "out", "--preset", "imagenet", "--no-shrink-on-load",
                      "--no-exif", expect=1)
    outputs = run.outputs()
    compared = 0
    for path, tensor in outputs.items():
        if "16" in Path(path).name:
            continue
        image = pillow_8bit_rgb(os.fsencode(torture) + b"/" + os.fsencode(path))
        if image is None:
            continue
        with torch.no_grad():
            expected = IMAGENET(image).numpy()
        assert np.abs(tensor - expected).max() <= IMAGENET_TOL, path
        compared += 1
    assert compared >= 40

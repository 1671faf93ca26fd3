"""Shrink-on-load (--shrink-on-load off|auto|max): JPEGs large enough to be decoded at 1/2, 1/4 or
1/8 scale, with fine detail and noise so that the scaled IDCT's filtering shows. The default
(auto) must stay within a level or so of torchvision's Resize(256) + CenterCrop(224) on a full
Pillow decode; max decodes smaller and may be visibly off, but only on the images where it picks
a smaller scale than auto."""

import json

import numpy as np
import pytest
import torchvision.transforms as T
from PIL import Image

from conftest import pil_open_rgb, run_imgprep

UINT8 = ("--preset", "imagenet", "--dtype", "uint8", "--layout", "nhwc", "--engine", "cpu")
# (width, height, chroma subsampling: 2 is 4:2:0, 0 is 4:4:4, JPEG quality)
LARGE = [(1000, 750, 2, 95), (2000, 1500, 0, 90), (3000, 2000, 2, 92), (4000, 3000, 0, 95),
         (1000, 750, 0, 90), (2000, 1500, 2, 95), (3000, 2000, 0, 95), (4000, 3000, 2, 90),
         (6000, 4000, 2, 92), (8000, 6000, 0, 90)]
SMALL = [(700, 525, 2, 95), (500, 375, 0, 95)]  # only max shrinks the first; nothing the second
GAP = 4  # Decoder::kReducingGap


def detailed(width, height, seed):
    """A photo-like image: smooth shading, hard-edged cells, stripes near the pixel pitch, and
    noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cells = rng.choice(np.float32([-90, 0, 90]), (height // 13 + 1, width // 11 + 1))
    shade = 128 + 30 * np.sin(x / 37 + seed) * np.cos(y / 53) + cells.repeat(13, 0).repeat(11, 1)[:height, :width]
    stripes = 40 * np.sin(x * 2.1) * np.sin(y * 1.7)
    pixels = shade[..., None] + stripes[..., None] * np.float32([1, 0.5, -1])
    pixels += rng.normal(0, 25, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shrink")
    for seed, (w, h, subsampling, quality) in enumerate(LARGE + SMALL):
        detailed(w, h, seed).save(folder / name(w, h, subsampling, quality), quality=quality,
                                  subsampling=subsampling)
    return folder


@pytest.fixture(scope="module")
def references(jpegs):
    torchvision = T.Compose([T.Resize(256), T.CenterCrop(224)])
    return {p.name: np.asarray(torchvision(pil_open_rgb(p))) for p in jpegs.iterdir()}


def name(width, height, subsampling, quality):
    return f"{width}x{height}-{'420' if subsampling else '444'}-q{quality}.jpg"


def levels_off(run, references):
    """{file: |output - reference| in 8-bit levels} for every image, all of which must be ok."""
    rows = run.manifest
    assert len(rows) == len(references) and all(r["status"] == "ok" for r in rows), run
    return {path: np.abs(item.astype(int) - references[path].astype(int))
            for path, item in run.outputs().items()}


def shrink(width, height, gap):
    """The scale shrink-on-load picks for Resize(256) of a width x height image, rebuilt here."""
    resized = (256, height * 256 // width) if width <= height else (width * 256 // height, 256)
    for d in (8, 4, 2):
        if -(-width // d) >= gap * resized[0] and -(-height // d) >= gap * resized[1]:
            return d
    return 1


def test_default_matches_torchvision(imgprep, jpegs, references):
    run = imgprep(jpegs, *UINT8)
    diffs = levels_off(run, references)
    every = np.concatenate([d.ravel() for d in diffs.values()])
    worst = {path: int(d.max()) for path, d in diffs.items()}
    assert np.percentile(every, 99.9) <= 1 and every.max() <= 4, worst
    assert run.meta["config"]["shrink_on_load"] == "auto"


def test_auto_shrinks_where_the_gap_allows(imgprep, jpegs):
    """Outputs differ from the full decode's exactly where auto decodes at a smaller scale."""
    auto = imgprep(jpegs, *UINT8).outputs()
    off = imgprep(jpegs, *UINT8, "--shrink-on-load", "off").outputs()
    shrunk = [name(*jpeg) for jpeg in LARGE + SMALL if shrink(jpeg[0], jpeg[1], GAP) > 1]
    assert len(shrunk) == 4
    assert sorted(p for p in auto if not np.array_equal(auto[p], off[p])) == sorted(shrunk)


def test_off_is_the_full_decode(imgprep, jpegs, references):
    off = imgprep(jpegs, *UINT8, "--shrink-on-load", "off")
    alias = imgprep(jpegs, *UINT8, "--no-shrink-on-load")
    assert off.meta["config"]["shrink_on_load"] == alias.meta["config"]["shrink_on_load"] == "off"
    assert np.array_equal(off.array(), alias.array())
    assert max(int(d.max()) for d in levels_off(off, references).values()) <= 1


def test_max_is_inexact_only_where_it_shrinks_further(imgprep, jpegs, references):
    auto = imgprep(jpegs, *UINT8, "--shrink-on-load", "auto").outputs()
    run = imgprep(jpegs, *UINT8, "--shrink-on-load", "max")
    assert run.meta["config"]["shrink_on_load"] == "max"
    worst = {path: int(d.max()) for path, d in levels_off(run, references).items()}
    for w, h, subsampling, quality in LARGE + SMALL:
        path = name(w, h, subsampling, quality)
        same = np.array_equal(run.outputs()[path], auto[path])
        assert same == (shrink(w, h, 1) == shrink(w, h, GAP)), path
    assert max(worst.values()) > 4, worst


def test_unknown_value_is_a_usage_error(imgprep, jpegs):
    run = imgprep(jpegs, *UINT8, "--shrink-on-load", "on", expect=None)
    assert run.rc == 2 and "--shrink-on-load" in run.stderr and "'on'" in run.stderr, run


def test_resume_of_an_out_from_the_boolean_setting_is_refused(jpegs, tmp_path):
    """Earlier versions recorded shrink_on_load as true or false: refused, saying so."""
    out = tmp_path / "out"
    meta = run_imgprep(jpegs, out, *UINT8, "--shard-size", "4").meta
    meta["identity"]["settings"]["shrink_on_load"] = True
    meta["complete"] = False
    (out / "meta.json").write_text(json.dumps(meta))
    run = run_imgprep(jpegs, out, *UINT8, "--shard-size", "4", "--resume", expect=None)
    assert run.rc == 2, run
    assert run.stderr.startswith("imgprep: --resume: ") and "shrink_on_load" in run.stderr, run
    assert "another version of imgprep" in run.stderr, run.stderr

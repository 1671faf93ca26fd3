"""--antialias on claims Pillow's Image.resize semantics: compare stretch resizes with Pillow.

Both resampler paths are held to it: the default (AVX2 integer arithmetic where the CPU has AVX2)
and the SSE2 float path that IMGPREP_NO_AVX2=1 selects.

Inputs are lossless PNGs (the fixtures' sizes/*.png and three sample PNGs, one of them gray), so
both sides start from identical pixels. Each target size is a different scale factor for each
input: downscales around 0.68x, 0.5x, 0.23x, a 2.3x upscale and mixed (up in x, down in y).
"""

import os

import numpy as np
import pytest
from PIL import Image

from conftest import RESIZE_TARGETS, max_diff, pil_open_rgb, report, resize_inputs

FILTERS = {
    "nearest": Image.NEAREST,
    "linear": Image.BILINEAR,
    "cubic": Image.BICUBIC,
    "area": Image.BOX,
    "lanczos": Image.LANCZOS,
}
TARGETS = RESIZE_TARGETS
PATHS = {"default": None, "sse2": {**os.environ, "IMGPREP_NO_AVX2": "1"}}


@pytest.fixture(scope="module")
def inputs(fixtures_dir, sample_dir, tmp_path_factory):
    folder, files = resize_inputs(fixtures_dir, sample_dir, tmp_path_factory)
    return folder, {f.name: pil_open_rgb(f) for f in files}


def run_stretch(imgprep, folder, interp, width, height, env=None):
    run = imgprep(folder, "--resize", f"{width}x{height}", "--interp", interp, "--antialias", "on",
                  "--dtype", "uint8", "--layout", "nhwc", "--shard-size", 1000, env=env)
    outputs = run.outputs()
    assert run.shard_files() and len(run.shard_files()) == 1
    return outputs


def diffs_vs_pillow(outputs, images, interp, width, height):
    assert sorted(outputs) == sorted(images)
    return {name: max_diff(outputs[name], np.asarray(im.resize((width, height), FILTERS[interp])))
            for name, im in images.items()}


@pytest.mark.parametrize("width,height", TARGETS, ids=[f"{w}x{h}" for w, h in TARGETS])
@pytest.mark.parametrize("interp", ["linear", "cubic", "lanczos", "area"])
@pytest.mark.parametrize("path", PATHS)
def test_matches_pillow_exactly(imgprep, inputs, path, interp, width, height):
    """The contract is max |difference| <= 1; imgprep reproduces Pillow's fixed-point rounding,
    so the bytes are in fact identical, and this test holds it to that."""
    folder, images = inputs
    outputs = run_stretch(imgprep, folder, interp, width, height, env=PATHS[path])
    diffs = diffs_vs_pillow(outputs, images, interp, width, height)
    worst = {name: d for name, d in diffs.items() if d > 0}
    assert not worst, f"{path} {interp} {width}x{height}: imgprep differs from Pillow for {worst}"


def pillow_nearest_index(n_in, n_out):
    """Source index per output index as Pillow's NEAREST resize computes it: the position
    (i + 0.5) * n_in / n_out is accumulated in double steps, then truncated."""
    step = n_in / n_out
    pos, index = step * 0.5, []
    for _ in range(n_out):
        index.append(int(pos))
        pos += step
    return np.array(index)


@pytest.mark.parametrize("width,height", TARGETS, ids=[f"{w}x{h}" for w, h in TARGETS])
def test_nearest_copies_source_pixels(imgprep, inputs, width, height):
    """Every output pixel is the source pixel at (or, where the sample position falls exactly on
    a pixel boundary, next to) the position Pillow samples."""
    folder, images = inputs
    outputs = run_stretch(imgprep, folder, "nearest", width, height)
    for name, im in images.items():
        src = np.asarray(im)
        ys = pillow_nearest_index(im.height, height)
        xs = pillow_nearest_index(im.width, width)
        candidates = [src[np.ix_(np.minimum(ys + dy, im.height - 1), np.minimum(xs + dx, im.width - 1))]
                      for dy in (0, 1) for dx in (0, 1)]
        ok = np.zeros((height, width), bool)
        for c in candidates:
            ok |= (outputs[name] == c).all(axis=-1)
        assert ok.all(), f"{name}: {np.count_nonzero(~ok)} pixels are not a nearby source pixel"


@pytest.mark.parametrize("width,height", TARGETS, ids=[f"{w}x{h}" for w, h in TARGETS])
def test_nearest_matches_pillow_exactly(request, imgprep, inputs, width, height):
    folder, images = inputs
    outputs = run_stretch(imgprep, folder, "nearest", width, height)
    mismatched = {}
    for name, im in images.items():
        ref = np.asarray(im.resize((width, height), Image.NEAREST))
        assert np.array_equal(ref, np.asarray(im)[np.ix_(pillow_nearest_index(im.height, height),
                                                         pillow_nearest_index(im.width, width))])
        differing = (outputs[name] != ref).any(axis=-1)
        if differing.any():
            # A column (row) sampled from a different source column (row) differs almost
            # everywhere along it.
            mismatched[name] = (f"{differing.mean():.2%} of pixels, max |diff| "
                                f"{max_diff(outputs[name], ref):.0f}, columns "
                                f"{np.flatnonzero(differing.mean(axis=0) > 0.5)[:4].tolist()}, rows "
                                f"{np.flatnonzero(differing.mean(axis=1) > 0.5)[:4].tolist()}")
    report(request, f"nearest {width}x{height} vs Pillow NEAREST: {mismatched or 'exact'}")
    assert not mismatched, f"nearest {width}x{height} differs from Pillow NEAREST: {mismatched}"

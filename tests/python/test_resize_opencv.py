"""--antialias off claims OpenCV's cv::resize semantics: compare stretch resizes with cv2.resize
on the same RGB arrays (lossless PNG inputs, as in test_resize_pillow.py)."""

import cv2
import numpy as np
import pytest

from conftest import RESIZE_TARGETS, max_diff, pil_open_rgb, report, resize_inputs

FLAGS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
TARGETS = RESIZE_TARGETS


@pytest.fixture(scope="module")
def inputs(fixtures_dir, sample_dir, tmp_path_factory):
    folder, files = resize_inputs(fixtures_dir, sample_dir, tmp_path_factory)
    return folder, {f.name: np.asarray(pil_open_rgb(f)) for f in files}


def diffs_vs_opencv(imgprep, inputs, interp, width, height):
    folder, arrays = inputs
    run = imgprep(folder, "--resize", f"{width}x{height}", "--interp", interp, "--antialias", "off",
                  "--dtype", "uint8", "--layout", "nhwc", "--shard-size", 1000)
    outputs = run.outputs()
    assert sorted(outputs) == sorted(arrays)
    return {name: max_diff(outputs[name],
                           cv2.resize(a, (width, height), interpolation=FLAGS[interp]))
            for name, a in arrays.items()}


@pytest.mark.parametrize("width,height", TARGETS, ids=[f"{w}x{h}" for w, h in TARGETS])
@pytest.mark.parametrize("interp", ["nearest", "linear", "cubic", "area"])
def test_matches_opencv_within_one_level(imgprep, inputs, interp, width, height):
    diffs = diffs_vs_opencv(imgprep, inputs, interp, width, height)
    worst = {name: d for name, d in diffs.items() if d > 1}
    assert not worst, f"{interp} {width}x{height}: max |imgprep - cv2.resize| > 1 for {worst}"


@pytest.mark.parametrize("width,height", TARGETS, ids=[f"{w}x{h}" for w, h in TARGETS])
def test_lanczos_vs_opencv_lanczos4(request, imgprep, inputs, width, height):
    diffs = diffs_vs_opencv(imgprep, inputs, "lanczos", width, height)
    report(request, f"lanczos {width}x{height} vs INTER_LANCZOS4: max |diff| {max(diffs.values())}")
    worst = {name: d for name, d in diffs.items() if d > 1}
    assert not worst, f"lanczos {width}x{height}: max |imgprep - INTER_LANCZOS4| > 1 for {worst}"

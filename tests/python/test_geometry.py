"""Resize modes and crops: shorter/longer side (torchvision Resize(int)), centre crops
(torchvision CenterCrop) and letterbox (Ultralytics LetterBox), on lossless PNG inputs."""

import numpy as np
import pytest
import torchvision.transforms as T
from PIL import Image

from conftest import copy_files, letterbox_reference, max_diff, pil_open_rgb, report

SAMPLE_PNGS = ["animals/chelsea-small.png", "space/astronaut-portrait.png", "textures/gravel.png"]


@pytest.fixture(scope="module")
def inputs(fixtures_dir, sample_dir, tmp_path_factory):
    files = sorted((fixtures_dir / "sizes").glob("*.png")) + [sample_dir / p for p in SAMPLE_PNGS]
    folder = copy_files(files, tmp_path_factory.mktemp("geometry-inputs"))
    return folder, {f.name: pil_open_rgb(folder / f.name) for f in files}


def uint8_nhwc(*args):
    return (*args, "--dtype", "uint8", "--layout", "nhwc", "--antialias", "on")


SHORTER_CROP = [  # S, crop W, crop H, interp
    (256, 224, 224, "linear"),
    (64, 64, 48, "linear"),
    (37, 30, 37, "linear"),
    (160, 100, 150, "cubic"),
]


@pytest.mark.parametrize("size,width,height,interp", SHORTER_CROP,
                         ids=[f"shorter{s}-crop{w}x{h}-{i}" for s, w, h, i in SHORTER_CROP])
def test_shorter_then_center_crop_matches_torchvision(imgprep, inputs, size, width, height, interp):
    folder, images = inputs
    run = imgprep(folder, *uint8_nhwc("--resize", f"shorter:{size}", "--crop",
                                      f"center:{width}x{height}", "--interp", interp))
    outputs = run.outputs()
    mode = {"linear": T.InterpolationMode.BILINEAR, "cubic": T.InterpolationMode.BICUBIC}[interp]
    reference = T.Compose([T.Resize(size, interpolation=mode), T.CenterCrop((height, width))])
    assert sorted(outputs) == sorted(images)
    diffs = {name: max_diff(outputs[name], np.asarray(reference(im))) for name, im in images.items()}
    assert max(diffs.values()) <= 1, diffs


def test_center_crop_square_shorthand(imgprep, inputs):
    folder, images = inputs
    outputs = imgprep(folder, *uint8_nhwc("--resize", "shorter:50", "--crop", "center:40")).outputs()
    reference = T.Compose([T.Resize(50), T.CenterCrop(40)])
    diffs = {name: max_diff(outputs[name], np.asarray(reference(im))) for name, im in images.items()}
    assert max(diffs.values()) <= 1, diffs


@pytest.mark.parametrize("width,height", [(40, 40), (9, 120)])
def test_center_crop_larger_than_image_pads_like_torchvision(imgprep, inputs, width, height):
    """No resize; the crop pads with --pad-value (0 here, as CenterCrop's fill)."""
    folder, images = inputs
    outputs = imgprep(folder, *uint8_nhwc("--crop", f"center:{width}x{height}")).outputs()
    diffs = {name: max_diff(outputs[name], np.asarray(T.CenterCrop((height, width))(im)))
             for name, im in images.items()}
    assert max(diffs.values()) == 0, diffs


def test_center_crop_pads_with_pad_value(imgprep, inputs):
    folder, images = inputs
    outputs = imgprep(folder, *uint8_nhwc("--crop", "center:40x40", "--pad-value", 77)).outputs()
    for name, im in images.items():
        # Where the zero-padded reference shows padding, imgprep shows 77; the image elsewhere.
        mask = np.asarray(T.CenterCrop(40)(Image.new("RGB", im.size, (255, 255, 255))))
        expected = np.where(mask == 255, np.asarray(T.CenterCrop(40)(im)), 77)
        assert max_diff(outputs[name], expected) == 0, name


def longer_size(w, h, s):
    """torchvision Resize(int) rounding applied to the longer side: the short side truncates."""
    if w >= h:
        return s, int(s * h / w)
    return int(s * w / h), s


@pytest.mark.parametrize("size", [300, 64, 1000])
def test_longer_side_images_match_pillow(imgprep, inputs, size):
    folder, images = inputs
    run = imgprep(folder, "--resize", f"longer:{size}", "--format", "images",
                  "--image-format", "png", "--antialias", "on")
    rows = {r["path"]: r for r in run.manifest}
    assert sorted(rows) == sorted(images)
    for name, im in images.items():
        assert rows[name]["status"] == "ok"
        assert rows[name]["output"] == name  # .png in, .png out
        with Image.open(run.out / rows[name]["output"]) as written:
            assert written.format == "PNG" and written.mode == "RGB"
            expected_size = longer_size(im.width, im.height, size)
            if 0 in expected_size:
                continue  # 97x3 at longer:64 has no rows left; not specified
            assert written.size == expected_size, name
            got = np.asarray(written)
        assert max_diff(got, np.asarray(im.resize(expected_size, Image.BILINEAR))) <= 1, name


LETTERBOX = [(64, 64), (640, 640), (96, 48), (33, 70), (3, 10)]


@pytest.mark.parametrize("width,height", LETTERBOX, ids=[f"{w}x{h}" for w, h in LETTERBOX])
def test_letterbox_matches_ultralytics(request, imgprep, inputs, width, height):
    folder, images = inputs
    run = imgprep(folder, "--resize", f"letterbox:{width}x{height}", "--antialias", "off",
                  "--pad-value", 114, "--dtype", "uint8", "--layout", "nhwc")
    outputs = run.outputs()
    diffs = {}
    for name, im in images.items():
        expected = letterbox_reference(np.asarray(im), width, height, 114)
        if expected is None:  # Ultralytics would fail on a zero-sized resize
            continue
        diffs[name] = max_diff(outputs[name], expected)
    report(request, f"letterbox {width}x{height}: {diffs}")
    assert max(diffs.values()) <= 1, {n: d for n, d in diffs.items() if d > 1}

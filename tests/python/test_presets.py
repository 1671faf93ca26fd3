"""--preset imagenet / clip / yolo on datasets/sample against the pipelines they are named after:
torchvision transforms (imagenet, clip) and Ultralytics' LetterBox (yolo)."""

import numpy as np
import pytest
import torch
import torchvision.transforms as T

from conftest import letterbox_reference, max_diff, mean_diff, pil_open_rgb

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# One uint8 level after normalisation, for the smallest std of each preset.
IMAGENET_TOL = 1.0 / 255 / 0.224 + 1e-5
CLIP_TOL = 1.0 / 255 / min(CLIP_STD) + 1e-5
YOLO_TOL = 1.0 / 255 + 1e-6

REFERENCES = {
    "imagenet": T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                           T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]),
    "clip": T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                       T.ToTensor(), T.Normalize(CLIP_MEAN, CLIP_STD)]),
}


def yolo_reference(image):
    boxed = letterbox_reference(np.asarray(image), 640, 640, 114)
    return boxed.transpose(2, 0, 1).astype(np.float32) / np.float32(255)


def reference(preset, image):
    if preset == "yolo":
        return yolo_reference(image)
    with torch.no_grad():
        return REFERENCES[preset](image).numpy()


@pytest.fixture(scope="module")
def sample_images(sample_dir):
    """{relative path: upright PIL RGB image} for every image in the sample."""
    files = sorted(p for p in sample_dir.rglob("*") if p.suffix.lower() in
                   {".jpg", ".jpeg", ".png", ".bmp"})
    return {p.relative_to(sample_dir).as_posix(): pil_open_rgb(p) for p in files}


def check_all_ok(run, sample_images, shape):
    assert sorted(run.ok_paths()) == sorted(sample_images)
    outputs = run.outputs()
    for name, item in outputs.items():
        assert item.shape == shape and item.dtype == np.float32, name
    return outputs


@pytest.mark.parametrize("preset,tol", [("imagenet", IMAGENET_TOL), ("clip", CLIP_TOL),
                                        ("yolo", YOLO_TOL)])
def test_preset_matches_reference_at_full_decode(imgprep, sample_dir, sample_images, preset, tol):
    run = imgprep(sample_dir, "--preset", preset, "--no-shrink-on-load")
    assert run.meta["config"]["preset"] == preset
    size = 640 if preset == "yolo" else 224
    outputs = check_all_ok(run, sample_images, (3, size, size))
    diffs = {name: max_diff(outputs[name], reference(preset, im))
             for name, im in sample_images.items()}
    assert max(diffs.values()) <= tol, {n: d for n, d in diffs.items() if d > tol}


@pytest.mark.parametrize("preset", ["imagenet", "clip", "yolo"])
def test_preset_with_shrink_on_load_is_close(imgprep, sample_dir, sample_images, preset):
    """JPEGs may be decoded at 1/2, 1/4 or 1/8 scale first: only close to the reference."""
    run = imgprep(sample_dir, "--preset", preset)
    size = 640 if preset == "yolo" else 224
    outputs = check_all_ok(run, sample_images, (3, size, size))
    diffs = {name: mean_diff(outputs[name], reference(preset, im))
             for name, im in sample_images.items()}
    assert max(diffs.values()) < 0.05, diffs


def test_explicit_options_override_preset(imgprep, sample_dir):
    base = imgprep(sample_dir, "--preset", "imagenet", "--no-shrink-on-load")
    half = imgprep(sample_dir, "--preset", "imagenet", "--no-shrink-on-load",
                   "--dtype", "float16", "--layout", "nhwc")
    expected = base.array().transpose(0, 2, 3, 1).astype(np.float16)
    got = half.array()
    assert got.dtype == np.float16 and got.shape == expected.shape
    assert np.array_equal(got, expected)
    config = half.meta["config"]
    assert (config["dtype"], config["layout"], config["resize"]) == ("float16", "nhwc", "shorter:256")


def test_explicit_geometry_overrides_preset(imgprep, sample_dir, sample_images):
    run = imgprep(sample_dir, "--preset", "imagenet", "--no-shrink-on-load", "--crop", "center:128",
                  "--mean", "0", "--std", "1")
    outputs = check_all_ok(run, sample_images, (3, 128, 128))
    ref = T.Compose([T.Resize(256), T.CenterCrop(128), T.ToTensor()])
    diffs = {name: max_diff(outputs[name], ref(im).numpy()) for name, im in sample_images.items()}
    assert max(diffs.values()) <= 1 / 255 + 1e-6, diffs


def test_unknown_preset_is_a_usage_error(imgprep, sample_dir):
    run = imgprep(sample_dir, "--preset", "resnet", expect=2)
    assert "preset" in run.stderr and len(run.stderr.strip().splitlines()) == 1

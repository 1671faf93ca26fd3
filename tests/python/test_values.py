"""Channel order, normalisation, dtype and layout: each is checked against a run that differs
only in that option, with numpy doing the arithmetic."""

import numpy as np
import pytest

from conftest import run_imgprep

GEOMETRY = ("--resize", "shorter:72", "--crop", "center:64x48", "--no-shrink-on-load")


@pytest.fixture(scope="module")
def runs(sample_dir, tmp_path_factory):
    """Lazily made runs over the sample, keyed by their extra options."""
    root = tmp_path_factory.mktemp("values")
    cache = {}

    def get(*args):
        if args not in cache:
            cache[args] = run_imgprep(sample_dir, root / f"run-{len(cache)}", *GEOMETRY, *args)
        return cache[args]

    return get


def test_bgr_swaps_channels_exactly(runs):
    rgb = runs("--dtype", "uint8").array()
    bgr = runs("--dtype", "uint8", "--channels", "bgr").array()
    assert np.array_equal(bgr, rgb[:, ::-1])
    rgb_f = runs().array()
    bgr_f = runs("--channels", "bgr").array()
    assert np.array_equal(bgr_f, rgb_f[:, ::-1])


def test_bgr_applies_mean_and_std_in_output_channel_order(runs):
    """Per-channel values are given in R,G,B order and follow the channels when they swap."""
    args = ("--mean", "0.1,0.2,0.3", "--std", "0.5,0.25,0.125")
    rgb = runs(*args).array()
    bgr = runs(*args, "--channels", "bgr").array()
    assert np.array_equal(bgr, rgb[:, ::-1])


@pytest.mark.parametrize("scale,mean,std", [
    ("0.00392156862745098", "0", "1"),
    ("1", "0", "1"),
    ("0.00392156862745098", "0.485,0.456,0.406", "0.229,0.224,0.225"),
    ("2,0.5,1", "127.5", "3,-2,0.25"),
    ("0.0078431372549", "1", "1"),
])
def test_normalisation_of_the_uint8_result(runs, scale, mean, std):
    pixels = runs("--dtype", "uint8").array().astype(np.float64)
    got = runs("--scale", scale, "--mean", mean, "--std", std).array()
    assert got.dtype == np.float32

    def triplet(text):
        values = [float(v) for v in text.split(",")]
        return np.array(values * 3 if len(values) == 1 else values).reshape(1, 3, 1, 1)

    s, m, d = triplet(scale), triplet(mean), triplet(std)
    expected = (pixels * s - m) / d
    # 1e-6 relative to the values' range: (x*scale - mean) cancels near zero.
    span = np.abs(255 * s / d) + np.abs(m / d)
    assert np.all(np.abs(got - expected) <= 1e-6 * span + 1e-6 * np.abs(expected)), \
        float(np.max(np.abs(got - expected) / span))


def test_float16_is_numpy_cast_of_float32(runs):
    f32 = runs().array()
    f16 = runs("--dtype", "float16").array()
    assert f16.dtype == np.float16
    assert np.array_equal(f16, f32.astype(np.float16))
    normalised = runs("--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225").array()
    normalised16 = runs("--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225",
                        "--dtype", "float16").array()
    assert np.array_equal(normalised16.view(np.uint16),
                          normalised.astype(np.float16).view(np.uint16))


def test_float16_rounding_edge_values(runs):
    """Large scales reach fp16's overflow, subnormal and tie-to-even regions."""
    for scale in ("300", "1e-7", "0.12890625"):
        f32 = runs("--scale", scale).array()
        f16 = runs("--scale", scale, "--dtype", "float16").array()
        with np.errstate(over="ignore"):  # 300 * 255 overflows to inf on purpose
            expected = f32.astype(np.float16)
        assert np.array_equal(f16.view(np.uint16), expected.view(np.uint16)), scale


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float16"])
def test_nhwc_is_transpose_of_nchw(runs, dtype):
    nchw = runs("--dtype", dtype).array()
    nhwc = runs("--dtype", dtype, "--layout", "nhwc").array()
    assert nchw.shape[1] == 3 and nhwc.shape[3] == 3
    assert np.array_equal(nhwc, nchw.transpose(0, 2, 3, 1))


def test_default_scale_is_one_over_255(runs):
    pixels = runs("--dtype", "uint8").array()
    assert np.array_equal(runs().array(), pixels.astype(np.float32) * np.float32(1 / 255))

"""The GPU engine against the CPU engine on the sample set: identical bytes (both run the same
per-pixel maths, without fused multiply-adds), in every interpolation mode, layout, channel order
and dtype. Skipped (and reported as skipped by CTest) where no GPU is usable."""

import numpy as np
import pytest

from test_engine_choice import engine_of

CASES = [
    ["--preset", "imagenet"],
    ["--preset", "clip", "--layout", "nhwc"],
    ["--preset", "yolo", "--channels", "bgr"],
    ["--resize", "97x61", "--interp", "nearest", "--dtype", "uint8"],
    ["--resize", "shorter:40", "--crop", "center:33x31", "--interp", "area", "--antialias", "off"],
    ["--resize", "letterbox:50x20", "--interp", "lanczos", "--dtype", "float16"],
    ["--resize", "300x300", "--interp", "cubic", "--antialias", "off", "--dtype", "uint8"],
]


@pytest.fixture(scope="module")
def gpu_available(tmp_path_factory, sample_dir):
    from conftest import run_imgprep
    run = run_imgprep(sample_dir, tmp_path_factory.mktemp("probe"), "--preset", "imagenet",
                      quiet=False)
    if engine_of(run) != "gpu":
        pytest.skip("no usable GPU: " + run.stdout.splitlines()[0])


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_gpu_equals_cpu(gpu_available, imgprep, sample_dir, args):
    cpu = imgprep(sample_dir, *args, "--engine", "cpu")
    gpu = imgprep(sample_dir, *args, "--engine", "gpu", "--batch", "5")
    assert [r["path"] for r in gpu.manifest] == [r["path"] for r in cpu.manifest]
    a, b = cpu.array(), gpu.array()
    assert a.shape == b.shape and a.dtype == b.dtype
    differing = np.count_nonzero(a.view(np.uint8) != b.view(np.uint8))
    assert differing == 0, f"{differing} of {a.nbytes} bytes differ"

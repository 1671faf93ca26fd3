"""--decode gpu without a GPU: the GPU engine's JPEG decoding on the fake CUDA runtime and the fake
nvJPEG (fake_nvjpeg.cpp: libjpeg-turbo decoding into the fake device memory, with switches for
what a real decoder does wrong).

The fake decodes exactly as the CPU decoder does, so every run here must write the same bytes as
the real imgprep's CPU engine at full scale (--no-shrink-on-load; --decode gpu decodes at full
scale): any difference is the orchestration's (which images go to the GPU, the rectangles, the
upright kernel, the fallbacks). On a real GPU the outputs agree within IDCT rounding instead
(scripts/gpu_check.sh measures by how much).

Environment (set by CTest): those of test_fake_gpu_engine.py, plus
  IMGPREP_FAKE_NVJPEG  the fake libnvjpeg.so.13
  IMGPREP_FIXTURES     the generated fixtures (exif/orient-N.jpg)
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from test_fake_gpu_engine import FAKE_GPU, SAMPLE_BAD, comparable_meta, fake_env, run
from conftest import IMGPREP, SAMPLE  # noqa: E402  (tests/python, on the path from the above)

FAKE_NVJPEG = Path(os.environ["IMGPREP_FAKE_NVJPEG"])
FIXTURES = Path(os.environ.get("IMGPREP_FIXTURES", ""))
NVJPEG_SWITCHES = ("IMGPREP_FAKE_NVJPEG_NO_HARDWARE", "IMGPREP_FAKE_NVJPEG_UNSUPPORTED",
                   "IMGPREP_FAKE_NVJPEG_FAIL_BATCH", "IMGPREP_FAKE_NVJPEG_SKIP",
                   "IMGPREP_FAKE_NVJPEG_REPORT")
ARGS = ("--preset", "imagenet", "--batch", "4")


def gpu_decode(tmp_path, inp, *args, env=None, expect=0, name="gpu"):
    """`imgprep-fake-gpu run INP --decode gpu ARGS` with the fake nvJPEG, its report in
    `.nvjpeg` (checked: the engine drained the stream before every hardware decode and asked for
    libjpeg's chroma upsampling)."""
    report = tmp_path / f"{name}-nvjpeg.json"
    env = {k: v for k, v in (env or {}).items()}
    env = {"IMGPREP_NVJPEG_LIBRARY": str(FAKE_NVJPEG), "IMGPREP_FAKE_NVJPEG_REPORT": str(report),
           **env}
    for switch in NVJPEG_SWITCHES:
        os.environ.pop(switch, None)
    result = run(FAKE_GPU, inp, tmp_path / name, *ARGS, "--decode", "gpu", *args, env=env,
                 expect=expect, quiet=False)
    result.nvjpeg = json.loads(report.read_text()) if report.exists() else None
    if result.nvjpeg:
        assert result.nvjpeg["hazards"] == 0, result.nvjpeg
        assert result.nvjpeg["without_interpolation"] == 0, result.nvjpeg
    return result


def cpu_reference(tmp_path, inp, *args):
    return run(IMGPREP, inp, tmp_path / "cpu", "--preset", "imagenet", "--engine", "cpu",
               "--no-shrink-on-load", *args)


def rows(result):
    return {r["path"]: r for r in result.manifest}


def assert_same_tensors(cpu, gpu):
    """Shards and labels byte-identical; manifest rows equal but for the decoder fields."""
    for name in sorted(p.name for p in cpu.out.iterdir() if p.suffix == ".npy"):
        assert (gpu.out / name).read_bytes() == (cpu.out / name).read_bytes(), name
    strip = lambda r: {k: v for k, v in r.items() if k not in ("decoder", "gpu_fallback")}  # noqa
    assert [strip(r) for r in gpu.manifest] == cpu.manifest


def decoders(result):
    return [rows(result)[p].get("decoder") for p in sorted(rows(result))]


def test_gpu_decoding_writes_the_cpu_engines_bytes(tmp_path):
    cpu = cpu_reference(tmp_path, SAMPLE)
    gpu = gpu_decode(tmp_path, SAMPLE, "--cpu-decode-share", "0")
    assert_same_tensors(cpu, gpu)
    by_path = rows(gpu)
    # Baseline JPEGs (the EXIF-rotated and the gray one among them) were decoded on the GPU, by
    # rectangles; progressive JPEG, PNG and BMP on the CPU.
    for path in ("animals/chelsea.jpg", "animals/chelsea-exif6.jpg", "objects/clock-gray.jpg",
                 "objects/coffee-1600x1200.jpg", "space/hubble-strip.jpg"):
        assert by_path[path]["decoder"] == "gpu", by_path[path]
    for path in ("objects/coffee-progressive.jpg", "animals/chelsea-small.png",
                 "objects/coffee-small.bmp"):
        assert by_path[path]["decoder"] == "cpu", by_path[path]
    assert not any("gpu_fallback" in r for r in gpu.manifest)
    counts = gpu.meta["decoders"]
    assert counts == {"gpu": decoders(gpu).count("gpu"), "cpu": decoders(gpu).count("cpu"),
                      "gpu_gave_back": 0}
    assert counts["gpu"] == gpu.nvjpeg["images"]["hardware"] > 0
    assert gpu.nvjpeg["roi_images"] == counts["gpu"]
    assert gpu.nvjpeg["handles"]["hybrid"] == 0
    engine_line = gpu.stdout.splitlines()[0]
    assert "JPEG decoding: nvJPEG 13.0.4 (" + str(FAKE_NVJPEG) + "), hardware backend, " \
           "7 JPEG engines" in engine_line, engine_line
    assert f"decoded on the GPU {counts['gpu']}, on the CPU {counts['cpu']} (of which the " \
           "GPU's decoder gave back 0)" in gpu.stdout
    assert comparable_meta(gpu.meta)["config"]["decode"] == "gpu"


def test_every_exif_orientation(tmp_path):
    exif = FIXTURES / "exif"
    assert len(list(exif.glob("orient-*.jpg"))) == 8
    args = ("--resize", "40x30", "--crop", "none")
    cpu = run(IMGPREP, exif, tmp_path / "cpu", "--engine", "cpu", "--no-shrink-on-load", *args)
    gpu = run(FAKE_GPU, exif, tmp_path / "gpu", "--decode", "gpu", "--cpu-decode-share", "0",
              "--batch", "3", *args,
              env={"IMGPREP_NVJPEG_LIBRARY": str(FAKE_NVJPEG)})
    assert_same_tensors(cpu, gpu)
    assert decoders(gpu).count("gpu") == 8


@pytest.mark.parametrize("share", ["0.3", "1"])
def test_the_cpu_share_changes_who_decodes_not_the_bytes(tmp_path, share):
    cpu = cpu_reference(tmp_path, SAMPLE)
    gpu = gpu_decode(tmp_path, SAMPLE, "--cpu-decode-share", share)
    assert_same_tensors(cpu, gpu)
    n_gpu = gpu.meta["decoders"]["gpu"]
    if share == "1":
        assert n_gpu == 0
    else:
        everything = gpu_decode(tmp_path, SAMPLE, "--cpu-decode-share", "0", name="all")
        assert 0 < n_gpu < everything.meta["decoders"]["gpu"]
        # The same split again: by input position, not by timing.
        again = gpu_decode(tmp_path, SAMPLE, "--cpu-decode-share", share, "--threads", "1",
                           name="again")
        assert decoders(again) == decoders(gpu)


FALLBACKS = {
    "no JPEG engines": ({"IMGPREP_FAKE_NVJPEG_NO_HARDWARE": "1"}, None),
    "refused images": ({"IMGPREP_FAKE_NVJPEG_UNSUPPORTED": "2"},
                       "the GPU's decoder does not take it"),
    "a failed batch": ({"IMGPREP_FAKE_NVJPEG_FAIL_BATCH": "1"},
                       "nvJPEG: NVJPEG_STATUS_EXECUTION_FAILED"),
    "images left unwritten": ({"IMGPREP_FAKE_NVJPEG_SKIP": "2"},
                              "the GPU's decoder left it unwritten"),
}


@pytest.mark.parametrize("env,reason", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_what_the_gpu_cannot_decode_is_decoded_on_the_cpu(tmp_path, env, reason):
    cpu = cpu_reference(tmp_path, SAMPLE)
    gpu = gpu_decode(tmp_path, SAMPLE, "--cpu-decode-share", "0", env=env)
    assert_same_tensors(cpu, gpu)
    given_back = [r for r in gpu.manifest if "gpu_fallback" in r]
    assert gpu.meta["decoders"]["gpu_gave_back"] == len(given_back)
    if reason is None:  # the GPU backend: whole images, no rectangles
        assert "GPU backend (no JPEG engines)" in gpu.stdout.splitlines()[0]
        assert gpu.nvjpeg["refused_hardware"] >= 1 and gpu.nvjpeg["images"]["hybrid"] > 0
        assert gpu.nvjpeg["roi_images"] == 0 and not given_back
        return
    assert given_back and all(r["gpu_fallback"] == reason and r["decoder"] == "cpu"
                              for r in given_back), given_back
    assert gpu.meta["decoders"]["gpu"] > 0


def test_bad_inputs_fail_as_on_the_cpu(tmp_path):
    cpu = run(IMGPREP, SAMPLE_BAD, tmp_path / "cpu", "--preset", "imagenet", "--engine", "cpu",
              "--no-shrink-on-load", expect=1)
    gpu = gpu_decode(tmp_path, SAMPLE_BAD, "--cpu-decode-share", "0", expect=1)
    assert_same_tensors(cpu, gpu)
    assert gpu.failed() == cpu.failed() and len(cpu.failed()) == 3


def test_resume_refuses_another_decoder(tmp_path):
    gpu = gpu_decode(tmp_path, SAMPLE)
    again = run(FAKE_GPU, SAMPLE, gpu.out, *ARGS, "--resume", expect=2,
                env={"IMGPREP_NVJPEG_LIBRARY": str(FAKE_NVJPEG)})
    assert "--resume: OUT was made with --decode gpu, not cpu" in again.stderr, again.stderr


def test_without_nvjpeg_it_says_why(tmp_path):
    missing = tmp_path / "nowhere" / "libnvjpeg.so.13"
    gpu = run(FAKE_GPU, SAMPLE, tmp_path / "gpu", *ARGS, "--decode", "gpu", expect=2,
              env={"IMGPREP_NVJPEG_LIBRARY": str(missing)})
    assert gpu.stderr.startswith("imgprep: --decode gpu: nvJPEG (libnvjpeg.so.13) cannot be "
                                 f"loaded: {missing}: no such file; "), gpu.stderr


def test_bench_has_a_gpu_decode_tier(tmp_path):
    env = fake_env({"IMGPREP_NVJPEG_LIBRARY": str(FAKE_NVJPEG)})
    out = tmp_path / "bench.json"
    proc = subprocess.run([str(FAKE_GPU), "bench", str(SAMPLE), "--preset", "imagenet",
                           "--tiers", "gpu-decode", "--repeat", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    tier = json.loads(out.read_text())["tiers"][0]
    assert tier["tier"] == "gpu-decode" and tier["available"], tier
    assert "hardware backend" in tier["jpeg_decoder"]


def test_a_jpeg_the_gpu_fails_on_is_decoded_by_the_cpu(tmp_path):
    """A whole baseline JPEG with corrupt entropy-coded data: the GPU's decoder fails the batch
    (nvJPEG reports a bad bitstream), the CPU decodes it as it would have anyway (libjpeg goes on
    past bad data), and the other images of the batch come back to the CPU too."""
    inp = tmp_path / "in"
    inp.mkdir()
    data = bytearray((SAMPLE / "animals" / "chelsea.jpg").read_bytes())
    middle = len(data) * 3 // 5
    data[middle:middle + 64] = bytes(range(64))  # scan bytes, well before the end marker
    (inp / "corrupt.jpg").write_bytes(bytes(data))
    (inp / "whole.jpg").write_bytes((SAMPLE / "objects" / "coffee.jpg").read_bytes())
    cpu = cpu_reference(tmp_path, inp)
    gpu = gpu_decode(tmp_path, inp, "--cpu-decode-share", "0")
    assert_same_tensors(cpu, gpu)
    corrupt = rows(gpu)["corrupt.jpg"]
    assert corrupt["status"] == "ok"
    assert corrupt.get("warning") == rows(cpu)["corrupt.jpg"].get("warning")
    assert corrupt["decoder"] == "cpu"
    assert corrupt["gpu_fallback"] == "nvJPEG: NVJPEG_STATUS_BAD_JPEG"
    assert rows(gpu)["whole.jpg"]["gpu_fallback"] == "nvJPEG: NVJPEG_STATUS_BAD_JPEG"


def test_image_files_keep_the_colour_profile(tmp_path):
    """--format images: a JPEG decoded on the GPU keeps its ICC profile in the file written, as
    on the CPU (the header's profile travels with the planned job)."""
    from PIL import Image, ImageCms
    import numpy as np
    inp = tmp_path / "in"
    inp.mkdir()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    y, x = np.mgrid[0:72, 0:96]
    picture = Image.fromarray(np.stack([x * 2, y * 3, x + y], axis=-1).astype(np.uint8))
    picture.save(inp / "srgb.jpg", quality=95, icc_profile=srgb)
    picture.save(inp / "plain.jpg", quality=95)
    args = ("--format", "images", "--image-format", "png", "--resize", "shorter:48")
    cpu = run(IMGPREP, inp, tmp_path / "cpu", "--engine", "cpu", "--no-shrink-on-load", *args)
    gpu = run(FAKE_GPU, inp, tmp_path / "gpu", "--decode", "gpu", "--cpu-decode-share", "0", *args,
              env={"IMGPREP_NVJPEG_LIBRARY": str(FAKE_NVJPEG)})
    assert [r["decoder"] for r in gpu.manifest] == ["gpu", "gpu"]
    for name in ("srgb.png", "plain.png"):
        assert (gpu.out / name).read_bytes() == (cpu.out / name).read_bytes(), name
    with Image.open(gpu.out / "srgb.png") as im:
        assert im.info["icc_profile"] == srgb

"""Image outputs keep the input's ICC colour profile (JPEG APP2 segments, PNG iCCP), as libvips
does, byte for byte, in every output format and through both CPU engines; --strip leaves it out.
Pillow reads the profiles back; the pixels are those of the same run without a profile."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import run_imgprep

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
LAB = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()


def padded(profile, extra):
    """profile with `extra` zero bytes after its tags and its header's size field to match: a
    valid profile larger than one JPEG segment (65519 bytes) holds."""
    size = len(profile) + extra
    return size.to_bytes(4, "big") + profile[4:] + bytes(extra)


LARGE = padded(SRGB, 150_000)  # three JPEG segments

# name -> the profile it carries (None: none)
INPUTS = {
    "srgb.jpg": SRGB, "srgb.png": SRGB,
    "large.jpg": LARGE, "large.png": LARGE,
    "plain.jpg": None, "plain.png": None,
}


def picture(width=96, height=72):
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("icc-inputs")
    for name, profile in INPUTS.items():
        extra = {"icc_profile": profile} if profile else {}
        picture().save(folder / name, quality=95, **extra)
    with Image.open(folder / "large.jpg") as im:  # Pillow wrote the profile in pieces
        assert im.info["icc_profile"] == LARGE
    return folder


def profile_of(path):
    with Image.open(path) as im:
        return im.info.get("icc_profile")


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


ENGINES = {"tbb": ["--engine", "cpu", "--cpu-engine", "tbb"],
           "procs": ["--engine", "cpu", "--cpu-engine", "procs"],
           "gpu": ["--engine", "gpu"]}  # the profile waits in the job while the GPU resizes


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("ext", ["jpg", "png", "webp"])
def test_outputs_keep_the_profile(inputs, tmp_path, ext, engine):
    args = ["--format", "images", "--image-format", ext, "--resize", "shorter:48",
            *ENGINES[engine]]
    kept = run_imgprep(inputs, tmp_path / "kept", *args, expect=None)
    if engine == "gpu" and kept.rc == 2 and "--engine gpu:" in kept.stderr:
        pytest.skip(kept.stderr.strip())
    assert kept.rc == 0, kept
    stripped = run_imgprep(inputs, tmp_path / "stripped", *args, "--strip")
    for name, profile in INPUTS.items():
        out = kept.out / (name.rsplit(".", 1)[0] + "." + ext)
        assert profile_of(out) == profile, name
        bare = stripped.out / out.name
        assert profile_of(bare) is None, name
        # The profile is added to the encoder's bytes: the image itself is the same.
        assert np.array_equal(pixels(out), pixels(bare)), name
        if ext == "png":
            with Image.open(out) as im:
                im.verify()  # every chunk's CRC


def test_profiles_of_other_colour_spaces_are_left_out(tmp_path):
    """The outputs are RGB; a Lab (or gray, CMYK) profile would misdescribe them."""
    folder = tmp_path / "in"
    folder.mkdir()
    picture().save(folder / "lab.jpg", icc_profile=LAB)
    run = run_imgprep(folder, tmp_path / "out", "--format", "images", "--image-format", "png")
    assert profile_of(folder / "lab.jpg") == LAB
    assert profile_of(run.out / "lab.png") is None


def test_webp_with_profile_is_extended_format(inputs, tmp_path):
    """The ICC flag of the VP8X header announces the ICCP chunk; the RIFF size covers it."""
    run = run_imgprep(inputs, tmp_path / "out", "--format", "images", "--image-format", "webp",
                       "--resize", "shorter:48")
    data = (run.out / "srgb.webp").read_bytes()
    assert data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") == len(data) - 8
    assert data[12:16] == b"VP8X" and data[20] & 0x20
    assert data[30:34] == b"ICCP" and int.from_bytes(data[34:38], "little") == len(SRGB)
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (64, 48)

"""Decoding: EXIF orientation, pixel formats and broken files, on the generated fixtures.

A centre crop the size of the upright image (and no resize) makes the output the decoded pixels
themselves, which are compared with the fixtures' *.expected.png (Pillow's decode)."""

import numpy as np
import pytest
from PIL import Image

from conftest import max_diff, report, write_list

UINT8_NHWC = ("--dtype", "uint8", "--layout", "nhwc")


def expected_png(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def decode_files(imgprep, tmp_path, files, width, height, *args, expect=0):
    """Runs imgprep over `files` (as a list file) with a width x height centre crop."""
    listing = write_list(tmp_path / f"list-{width}x{height}-{len(args)}.txt", files)
    return imgprep(listing, "--crop", f"center:{width}x{height}", *UINT8_NHWC, *args,
                   expect=expect)


def exif_group(fixtures_dir, orientations):
    return [fixtures_dir / "exif" / f"orient-{n}.jpg" for n in orientations]


@pytest.mark.parametrize("orientations,width,height",
                         [((1, 2, 3, 4), 64, 48), ((5, 6, 7, 8), 48, 64)],
                         ids=["orient-1-4", "orient-5-8"])
def test_exif_orientation_is_applied(request, imgprep, tmp_path, fixtures_dir, orientations, width,
                                     height):
    files = exif_group(fixtures_dir, orientations)
    run = decode_files(imgprep, tmp_path, files, width, height)
    diffs = {}
    for f in files:
        row = run.row(str(f))
        assert (row["width"], row["height"]) == (width, height), row  # upright size
        diffs[f.name] = max_diff(run.output(str(f)), expected_png(f.with_suffix(".expected.png")))
    report(request, f"EXIF orientation vs Pillow exif_transpose: max |diff| {diffs}")
    assert max(diffs.values()) <= 1, diffs


def test_no_exif_keeps_stored_orientation(imgprep, tmp_path, fixtures_dir):
    files = exif_group(fixtures_dir, range(1, 9))
    run = decode_files(imgprep, tmp_path, files, 64, 48, "--no-exif")
    stored = expected_png(fixtures_dir / "exif" / "orient-1.expected.png")
    for f in files:
        assert max_diff(run.output(str(f)), stored) <= 1, f.name


def test_exif_red_block_lands_where_the_orientation_says(imgprep, tmp_path, fixtures_dir):
    """Independent of the expected PNGs: the stored top-left red block moves to the corner the
    EXIF orientation names (1: top-left, 2: top-right, 3: bottom-right, 4: bottom-left,
    5: top-left, 6: top-right, 7: bottom-right, 8: bottom-left)."""
    corners = {1: "tl", 2: "tr", 3: "br", 4: "bl", 5: "tl", 6: "tr", 7: "br", 8: "bl"}
    for group, (w, h) in (((1, 2, 3, 4), (64, 48)), ((5, 6, 7, 8), (48, 64))):
        files = exif_group(fixtures_dir, group)
        run = decode_files(imgprep, tmp_path, files, w, h)
        for n, f in zip(group, files):
            img = run.output(str(f)).astype(int)
            patch = {"tl": img[1:4, 1:4], "tr": img[1:4, -4:-1], "bl": img[-4:-1, 1:4],
                     "br": img[-4:-1, -4:-1]}[corners[n]]
            assert (patch[..., 0] > 200).all() and (patch[..., 1:] < 60).all(), (n, patch[..., 0])


def format_files(fixtures_dir):
    return sorted(p for p in (fixtures_dir / "formats").iterdir()
                  if not p.name.endswith(".expected.png"))


def test_formats_decode_like_the_expected_pngs(request, imgprep, tmp_path, fixtures_dir):
    files = format_files(fixtures_dir)
    run = decode_files(imgprep, tmp_path, files, 37, 29, expect=1)  # the GIF fails
    diffs, failures = {}, {}
    for f in files:
        row = run.row(str(f))
        if f.suffix == ".gif":
            assert row["status"] == "failed" and row["error"], row
            continue
        if row["status"] != "ok":
            failures[f.name] = row.get("error")
            continue
        assert (row["width"], row["height"]) == (37, 29), row
        diffs[f.name] = max_diff(run.output(str(f)), expected_png(f"{f}.expected.png"))
    report(request, f"formats vs expected PNGs, max |diff|: {diffs}")
    assert not failures, failures
    lossless = {n: d for n, d in diffs.items() if not n.endswith(".jpg") and d != 0}
    jpeg = {n: d for n, d in diffs.items() if n.endswith(".jpg") and d > 1}
    assert not lossless, f"lossless formats must decode exactly: {lossless}"
    assert not jpeg, f"JPEGs must decode within one level of libjpeg-turbo: {jpeg}"


def test_bad_files_fail_with_reasons_and_good_ones_are_written(imgprep, tmp_path, fixtures_dir):
    good = [fixtures_dir / "sizes" / "33x17.png", fixtures_dir / "sizes" / "7x5.png"]
    bad = sorted((fixtures_dir / "bad").iterdir())
    # Bad files first and last, so neither end of the run is special.
    files = [bad[0], *good[:1], *bad[1:], *good[1:]]
    listing = write_list(tmp_path / "list.txt", files)
    run = imgprep(listing, "--resize", "16x16", *UINT8_NHWC, expect=1)
    assert [r["path"] for r in run.manifest] == [str(f) for f in files]
    failed = run.failed()
    assert sorted(failed) == sorted(str(f) for f in bad)
    for path, row in failed.items():
        assert row["error"].strip(), row
        assert "shard" not in row and "row" not in row, row
        if "bomb" in path:
            assert "--max-pixels" in row["error"], row
    assert run.array().shape == (2, 16, 16, 3)
    for f in good:
        assert max_diff(run.output(str(f)),
                        np.asarray(Image.open(f).convert("RGB").resize((16, 16), Image.BILINEAR))) <= 1


def test_max_pixels_limit_is_configurable(imgprep, tmp_path, fixtures_dir):
    files = [fixtures_dir / "sizes" / "33x17.png", fixtures_dir / "sizes" / "7x5.png"]
    listing = write_list(tmp_path / "list.txt", files)
    run = imgprep(listing, "--resize", "8x8", "--max-pixels", 100, expect=1)
    assert run.row(str(files[0]))["status"] == "failed"
    assert "--max-pixels" in run.row(str(files[0]))["error"]
    assert run.row(str(files[1]))["status"] == "ok"  # 35 pixels

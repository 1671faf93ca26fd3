"""Decoding: EXIF orientation, pixel formats and broken files, on the generated fixtures.

A centre crop the size of the upright image (and no resize) makes the output the decoded pixels
themselves, which are compared with the fixtures' *.expected.png (Pillow's decode)."""

import itertools
import os

import numpy as np
import pytest
from PIL import Image

from conftest import copy_files, max_diff, report, write_list

UINT8_NHWC = ("--dtype", "uint8", "--layout", "nhwc")


def expected_png(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def decode_files(imgprep, tmp_path, files, width, height, *args, expect=0, **kwargs):
    """Runs imgprep over `files` (as a list file) with a width x height centre crop; kwargs go
    to subprocess.run (env=...)."""
    listing = write_list(tmp_path / f"list-{width}x{height}-{len(args)}.txt", files)
    return imgprep(listing, "--crop", f"center:{width}x{height}", *UINT8_NHWC, *args,
                   expect=expect, **kwargs)


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


# ---- nothing carries over from one image to the next ----

def table_files(fixtures_dir):
    return sorted(p for p in (fixtures_dir / "tables").iterdir()
                  if not p.name.endswith(".expected.png"))


@pytest.mark.parametrize("threads", [1, 2])
def test_jpeg_tables_do_not_carry_over(imgprep, tmp_path, fixtures_dir, threads):
    """JPEGs without DHT (Motion JPEG style) decode with the standard Huffman tables and ones
    without DQT fail, even right after images with other tables on the same thread: the same
    outcome in every input order, equal to Pillow's decode."""
    tables = table_files(fixtures_dir)
    optimized = [f for f in tables if f.name.startswith("optimized")]
    lacking = [f for f in tables if f.name.startswith("no-")]
    assert len(optimized) == 3 and len(lacking) == 5
    # Every table-less file (a copy of it for each) right after each file with optimised
    # tables, then in reverse.
    order = []
    for i, o in enumerate(optimized):
        order.append(o)
        folder = copy_files(lacking, tmp_path / f"after-{i}")
        order += [folder / f.name for f in lacking]
    outcomes = []
    for files in (order, order[::-1]):
        run = decode_files(imgprep, tmp_path, files, 64, 48, "--threads", threads, expect=1)
        outcome = {}
        for row in run.manifest:
            name = row["path"].rsplit("/", 1)[-1]
            if name.startswith("no-dqt"):
                assert row["status"] == "failed", row
                assert "Quantization table 0x00 was not defined" in row["error"], row
            else:
                assert row["status"] == "ok", row
                expected = expected_png(fixtures_dir / "tables" / f"{name}.expected.png")
                assert max_diff(run.output(row["path"]), expected) <= 1, name
            outcome.setdefault(name, set()).add(row.get("error") or
                                                run.output(row["path"]).tobytes())
        outcomes.append(outcome)
    for name in outcomes[0]:
        assert len(outcomes[0][name] | outcomes[1][name]) == 1, name


# ---- TIFF layouts ----

def tiff_matrix(tifffile, folder):
    """{path: expected 8-bit RGB} for TIFFs in strip/tile x contiguous/separate planes x 8/16 bit
    x gray/gray+alpha/RGB/RGBA x none/deflate (tifffile), plus LZW strips (Pillow)."""
    rng = np.random.default_rng(600)
    files = {}
    for layout, planar, bits, channels, compression in itertools.product(
            ("strip", "tile"), ("contig", "separate"), (8, 16), (1, 2, 3, 4), ("none", "deflate")):
        if channels == 1 and planar == "separate":
            continue
        dtype = np.uint8 if bits == 8 else np.uint16
        data = rng.integers(0, np.iinfo(dtype).max + 1, (29, 37, channels), dtype=dtype)
        path = folder / f"{layout}-{planar}-{bits}bit-{channels}ch-{compression}.tif"
        kwargs = dict(photometric="minisblack" if channels <= 2 else "rgb",
                      compression=None if compression == "none" else compression)
        if channels > 1:
            kwargs["planarconfig"] = planar
        if channels in (2, 4):
            kwargs["extrasamples"] = ["unassalpha"]
        if layout == "tile":
            kwargs["tile"] = (16, 16)
        else:
            kwargs["rowsperstrip"] = 8
        stored = np.moveaxis(data, 2, 0) if planar == "separate" else data
        tifffile.imwrite(path, data[..., 0] if channels == 1 else stored, **kwargs)
        files[path] = data
    for mode, channels in (("L", 1), ("RGB", 3), ("RGBA", 4)):
        data = rng.integers(0, 256, (29, 37, channels), dtype=np.uint8)
        path = folder / f"strip-contig-8bit-{channels}ch-lzw.tif"
        Image.fromarray(data[..., 0] if channels == 1 else data, mode).save(
            path, compression="tiff_lzw")
        files[path] = data
    expected = {}
    for path, data in files.items():
        high = (data >> 8).astype(np.uint8) if data.dtype == np.uint16 else data
        expected[path] = np.repeat(high[..., :1], 3, 2) if data.shape[2] <= 2 else high[..., :3]
    return expected


def test_tiff_layouts_decode_right_or_fail_with_a_reason(request, imgprep, tmp_path):
    """Every TIFF either decodes to its samples (16-bit ones to their high byte, alpha dropped),
    the same bytes whatever malloc leaves in fresh memory, or fails with a reason. The layouts
    OpenCV misreads (wider samples in separate planes: unwritten memory or nearly black; 8-bit
    colour with transparent unassociated alpha: premultiplied) are refused."""
    tifffile = pytest.importorskip("tifffile")
    folder = tmp_path / "tiff"
    folder.mkdir()
    expected = tiff_matrix(tifffile, folder)
    for path, ref in expected.items():  # the reference agrees with Pillow where Pillow can tell
        if "8bit" in path.name and "2ch" not in path.name and "separate-8bit-4ch" not in path.name:
            with Image.open(path) as im:
                pillow = np.asarray(im.convert("RGB"))
            assert pillow.shape == ref.shape and (pillow == ref).all(), path.name
    runs = [decode_files(imgprep, tmp_path, list(expected), 37, 29, expect=None,
                         env={**os.environ, "MALLOC_PERTURB_": perturb})
            for perturb in ("1", "254")]
    ok, failed, wrong = [], {}, {}
    for path, ref in expected.items():
        rows = [run.row(str(path)) for run in runs]
        assert rows[0]["status"] == rows[1]["status"], (path.name, rows)
        if rows[0]["status"] == "ok":
            diffs = [max_diff(run.output(str(path)), ref) for run in runs]
            if max(diffs):
                wrong[path.name] = diffs
            ok.append(path.name)
        else:
            assert rows[0]["error"] == rows[1]["error"] and rows[0]["error"].strip(), rows
            failed[path.name] = rows[0]["error"]
    report(request, f"TIFF layouts: {len(ok)} decoded, {len(failed)} failed: {failed}")
    assert not wrong, f"decoded wrong pixels (max |diff| per run): {wrong}"
    for name, error in failed.items():
        if "separate-16bit" in name:
            assert "separate planes" in error, (name, error)
        elif "2ch" in name and not name.startswith("strip-contig"):
            assert "gray with alpha" in error, (name, error)
        elif "-8bit-4ch" in name and not (name.startswith("tile") and name.endswith("-none.tif")):
            # (OpenCV itself fails uncompressed 8-bit tiles, before the alpha is seen.)
            assert "unassociated alpha" in error, (name, error)
    # What OpenCV reads right still decodes.
    must_decode = [f"{layout}-contig-{bits}bit-{ch}ch-{comp}.tif" for layout in ("strip", "tile")
                   for bits in (8, 16) for ch in (1, 3) for comp in ("deflate",)]
    must_decode += [f"strip-contig-{bits}bit-{ch}ch-none.tif" for bits in (8, 16) for ch in (1, 3)]
    must_decode += ["strip-contig-16bit-4ch-none.tif", "strip-separate-8bit-3ch-none.tif",
                    "strip-contig-8bit-3ch-lzw.tif"]
    assert not set(must_decode) - set(ok), set(must_decode) - set(ok)


def test_rgba_tiff_decodes_where_every_pixel_is_opaque(imgprep, tmp_path):
    """Pillow saves RGBA TIFFs with unassociated alpha, which OpenCV premultiplies: exact while
    every alpha is 255, so such files decode; one transparent pixel fails the image."""
    rng = np.random.default_rng(601)
    data = rng.integers(0, 256, (29, 37, 4), dtype=np.uint8)
    data[..., 3] = 255
    opaque, transparent = tmp_path / "opaque.tif", tmp_path / "transparent.tif"
    Image.fromarray(data, "RGBA").save(opaque)
    data[5, 7, 3] = 128
    Image.fromarray(data, "RGBA").save(transparent)
    run = decode_files(imgprep, tmp_path, [opaque, transparent], 37, 29, expect=1)
    assert (run.output(str(opaque)) == data[..., :3]).all()
    assert "unassociated alpha" in run.row(str(transparent))["error"]


# ---- OpenCV stays quiet ----

@pytest.mark.parametrize("engine", ["tbb", "procs"])
def test_opencv_failures_print_nothing(imgprep, tmp_path, fixtures_dir, engine):
    """OpenCV 4.6 writes some failures ("imdecode_('...'): can't read header: ...") straight to
    std::cerr. Only imgprep's own lines may reach stderr; the failed rows carry the reasons."""
    bmp = bytearray((fixtures_dir / "formats" / "rgb.bmp").read_bytes())
    bmp[30] = 9  # BITMAPINFOHEADER compression: no such method
    corrupt = tmp_path / "bad-compression.bmp"
    corrupt.write_bytes(bmp)
    files = [corrupt, fixtures_dir / "sizes" / "7x5.png"]
    run = imgprep(write_list(tmp_path / "list.txt", files), "--resize", "8x8",
                  "--cpu-engine", engine, expect=1)
    assert run.row(str(corrupt))["error"].startswith("cannot decode BMP"), run.row(str(corrupt))
    assert run.row(str(files[1]))["status"] == "ok"
    assert "imdecode" not in run.stderr and "OpenCV" not in run.stderr, run.stderr
    for line in run.stderr.splitlines():
        assert line.startswith(("imgprep: ", "  ")), run.stderr


# ---- image outputs too large for their format ----

@pytest.mark.parametrize("image_format,limit,name", [("webp", 16383, "WebP"),
                                                     ("jpg", 65500, "JPEG")])
def test_image_output_over_the_format_limit_fails_clearly(imgprep, tmp_path, fixtures_dir,
                                                          image_format, limit, name):
    src = fixtures_dir / "sizes" / "7x5.png"
    listing = write_list(tmp_path / "list.txt", [src])
    fits = imgprep(listing, "--format", "images", "--image-format", image_format, "--resize",
                   f"{limit}x2")
    assert fits.row(str(src))["status"] == "ok"
    run = imgprep(listing, "--format", "images", "--image-format", image_format, "--resize",
                  f"{limit + 1}x2", expect=1)
    row = run.row(str(src))
    assert row["status"] == "failed"
    assert row["error"].endswith(f": {name} images are at most {limit} pixels a side; "
                                 f"this one is {limit + 1}x2"), row
    assert "OpenCV" not in run.stderr, run.stderr

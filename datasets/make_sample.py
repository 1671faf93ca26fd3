#!/usr/bin/python3
"""Regenerate datasets/sample/ and datasets/sample-bad/ from scikit-image's
bundled sample photographs.

Usage:
    /usr/bin/python3 datasets/make_sample.py [--skimage-data DIR] [--ignore-hash]

Needs Pillow and numpy only (scikit-image itself is never imported; only its
data files are read).  On Debian 12 the photos come from the python3-skimage
package (/usr/lib/python3/dist-packages/skimage/data/); any scikit-image
installation whose data files match the SHA-256 sums below works.

Only photos whose scikit-image docstring (skimage/data/_fetchers.py) states
public domain or CC0 are used.  Deliberately NOT used: motorcycle_left/right.png
(Middlebury stereo set, no licence stated), coins.png and ihc.png ("No known
copyright restrictions" only), moon.png / page.png / logo.png (no statement).

Output is deterministic for a given Pillow/libjpeg-turbo/zlib build: no
timestamps or random state go into any file.  Both output folders are removed
and rebuilt from scratch, so do not put hand-made files in them.
"""

import argparse
import hashlib
import os
import shutil
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "sample")
BAD = os.path.join(HERE, "sample-bad")
DEFAULT_SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data"

# Source photos: sha256 (identical to skimage/data/_registry.py upstream),
# author/origin and licence exactly as the scikit-image docstring states it.
SOURCES = {
    "astronaut.png": dict(
        sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        author="NASA (astronaut Eileen Collins), from the NASA Great Images "
               "database, https://flic.kr/p/r9qvLn",
        license="\"No known copyright restrictions, released into the public "
                "domain.\""),
    "chelsea.png": dict(
        sha256="596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        author="Stefan van der Walt (photographer); Chelsea the cat",
        license="\"No copyright restrictions. CC0 by the photographer "
                "(Stefan van der Walt).\""),
    "coffee.png": dict(
        sha256="cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        author="Rachel Michetti (photographer), courtesy of Pikolo Espresso Bar",
        license="\"No copyright restrictions. CC0 by the photographer "
                "(Rachel Michetti).\""),
    "clock_motion.png": dict(
        sha256="f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955",
        author="Stefan van der Walt (photographer); motion-blurred wall clock",
        license="\"Released into the public domain by the photographer "
                "(Stefan van der Walt).\""),
    "rocket.jpg": dict(
        sha256="c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
        author="SpaceX (launch of DSCOVR on Falcon 9), https://www.flickr.com/"
               "photos/spacexphotos/16511594820/",
        license="\"The image was captured by SpaceX and released in the public "
                "domain\""),
    "hubble_deep_field.jpg": dict(
        sha256="3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
        author="NASA / Hubble Space Telescope (Hubble eXtreme Deep Field), "
               "http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/",
        license="\"The image was captured by NASA and may be freely used in the "
                "public domain\""),
    "brick.png": dict(
        sha256="7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
        author="CC0Textures (Bricks25), https://cc0textures.com/view.php?tex=Bricks25; "
               "perspective-corrected, rotated, cropped and converted to gray "
               "by scikit-image",
        license="\"licensed under the Creative Commons CC0 License\""),
    "grass.png": dict(
        sha256="b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
        author="linolafett on DeviantArt (Grass 01), https://www.deviantart.com/"
               "linolafett/art/Grass-01-434853879; cropped and converted to "
               "gray by scikit-image",
        license="\"licensed under the Creative Commons CC0 License\""),
    "gravel.png": dict(
        sha256="c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
        author="CC0Textures (Gravel04), https://cc0textures.com/view.php?tex=Gravel04; "
               "rescaled, cropped and converted to gray by scikit-image",
        license="\"licensed under the Creative Commons CC0 License\""),
}

JPEG_420 = dict(format="JPEG", quality=90, subsampling=2, optimize=False)


class Ctx:
    def __init__(self, src_dir):
        self.src_dir = src_dir
        self.records = []  # (relpath, source, description)

    def src_path(self, name):
        return os.path.join(self.src_dir, name)

    def open(self, name):
        with Image.open(self.src_path(name)) as im:
            im.load()
            return im.copy()

    def save(self, im, rel, desc, source, **params):
        path = os.path.join(SAMPLE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        im.save(path, **params)
        self.records.append((rel, source, desc))

    def copy(self, name, rel, desc):
        path = os.path.join(SAMPLE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(self.src_path(name), path)
        self.records.append((rel, name, desc))


def center_crop(im, w, h):
    left = (im.width - w) // 2
    top = (im.height - h) // 2
    return im.crop((left, top, left + w, top + h))


def build_sample(c):
    # --- animals -------------------------------------------------------
    cat = c.open("chelsea.png")  # 451x300 RGB
    c.save(cat, "animals/chelsea.jpg", "PNG re-encoded as baseline JPEG, "
           "quality 90, 4:2:0; 451x300", "chelsea.png", **JPEG_420)
    c.save(center_crop(cat, 200, 300), "animals/chelsea-portrait.jpg",
           "centre crop to 200x300 (portrait), baseline JPEG q90 4:2:0",
           "chelsea.png", **JPEG_420)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 deg clockwise to display
    c.save(cat.transpose(Image.Transpose.ROTATE_90), "animals/chelsea-exif6.jpg",
           "pixels stored rotated 90 deg counter-clockwise (stored 300x451), "
           "EXIF Orientation=6 so a viewer that honours EXIF shows it upright "
           "as 451x300; baseline JPEG q90 4:2:0", "chelsea.png",
           exif=exif, **JPEG_420)
    c.save(cat.resize((226, 150), Image.Resampling.LANCZOS),
           "animals/chelsea-small.png",
           "Lanczos downscale to 226x150, 8-bit RGB PNG", "chelsea.png",
           format="PNG")

    # --- objects -------------------------------------------------------
    coffee = c.open("coffee.png")  # 600x400 RGB
    c.save(coffee, "objects/coffee.jpg", "PNG re-encoded as baseline JPEG, "
           "quality 90, 4:2:0; 600x400", "coffee.png", **JPEG_420)
    c.save(center_crop(coffee, 400, 400), "objects/coffee-progressive.jpg",
           "centre crop to 400x400, PROGRESSIVE JPEG q90 4:2:0", "coffee.png",
           progressive=True, **JPEG_420)
    c.save(center_crop(coffee, 533, 400).resize((1600, 1200),
                                                Image.Resampling.LANCZOS),
           "objects/coffee-1600x1200.jpg",
           "centre crop to 533x400 (4:3), Lanczos UPSCALE to 1600x1200, "
           "baseline JPEG q90 4:2:0", "coffee.png", **JPEG_420)
    c.save(coffee.resize((300, 200), Image.Resampling.LANCZOS),
           "objects/coffee-small.bmp",
           "Lanczos downscale to 300x200, uncompressed 24-bit BMP", "coffee.png",
           format="BMP")
    clock = c.open("clock_motion.png")  # 400x300 L
    c.save(clock, "objects/clock-gray.jpg", "grayscale (1-component) baseline "
           "JPEG q90; 400x300", "clock_motion.png", format="JPEG", quality=90,
           optimize=False)

    # --- space ---------------------------------------------------------
    astro = c.open("astronaut.png")  # 512x512 RGB
    c.save(astro, "space/astronaut.jpg", "PNG re-encoded as baseline JPEG, "
           "quality 90, 4:2:0; 512x512", "astronaut.png", **JPEG_420)
    c.save(astro.crop((128, 0, 384, 384)), "space/astronaut-portrait.png",
           "crop box (128,0)-(384,384) -> 256x384 portrait, 8-bit RGB PNG",
           "astronaut.png", format="PNG")
    c.copy("rocket.jpg", "space/rocket.jpg",
           "verbatim byte copy of the original: 640x427 baseline JPEG, 4:4:4, "
           "JFIF + embedded Adobe RGB (1998) ICC profile + COM marker")
    c.copy("hubble_deep_field.jpg", "space/hubble-deep-field.jpg",
           "verbatim byte copy of the original: 1000x872 baseline JPEG, 4:4:4, "
           "EXIF (Orientation=1), XMP, Ducky, Adobe APP14 and Adobe RGB (1998) "
           "ICC profile, no JFIF marker")
    hubble = c.open("hubble_deep_field.jpg")
    c.save(hubble.crop((0, 300, 1000, 550)), "space/hubble-strip.jpg",
           "crop box (0,300)-(1000,550) -> 1000x250 panoramic strip (4:1), "
           "re-encoded as baseline JPEG q90 4:2:0 (metadata dropped)",
           "hubble_deep_field.jpg", **JPEG_420)

    # --- textures ------------------------------------------------------
    c.save(c.open("brick.png"), "textures/brick.jpg",
           "grayscale (1-component) baseline JPEG q90; 512x512", "brick.png",
           format="JPEG", quality=90, optimize=False)
    grass = c.open("grass.png").convert("RGB")
    c.save(grass.resize((256, 256), Image.Resampling.LANCZOS),
           "textures/grass-256.jpg",
           "gray replicated to 3 channels, Lanczos downscale to 256x256, "
           "3-component baseline JPEG q90 4:2:0 (colour JPEG with gray content)",
           "grass.png", **JPEG_420)
    c.copy("gravel.png", "textures/gravel.png",
           "verbatim byte copy of the original: 512x512 8-bit grayscale PNG")


def write_attribution(c):
    lines = [
        "# Attribution for datasets/sample/",
        "",
        "Generated by `datasets/make_sample.py` (do not edit by hand; edit the",
        "script and re-run `/usr/bin/python3 datasets/make_sample.py`).",
        "",
        "Every image is derived from a photograph bundled with scikit-image",
        "(`skimage/data/`, Debian package python3-skimage 0.19.3). Author and",
        "licence are quoted from the docstring of the matching loader function",
        "in `skimage/data/_fetchers.py`. All sources are public domain or CC0,",
        "so the derived files may be redistributed freely; credit is given",
        "anyway as a courtesy.",
        "",
        "Layout is torchvision `ImageFolder` style: one folder per class.",
        "",
        "| File | skimage source | Author / origin | Licence (as stated) | What was done |",
        "|---|---|---|---|---|",
    ]
    for rel, src, desc in c.records:
        s = SOURCES[src]
        lines.append(f"| `{rel}` | `{src}` | {s['author']} | {s['license']} | "
                     f"{desc} |")
    lines += [
        "",
        "Source file checksums (SHA-256, identical to scikit-image's",
        "`_registry.py`):",
        "",
    ]
    for name in sorted({src for _, src, _ in c.records}):
        lines.append(f"- `{name}`: `{SOURCES[name]['sha256']}`")
    lines.append("")
    with open(os.path.join(SAMPLE, "ATTRIBUTION.md"), "w") as f:
        f.write("\n".join(lines))


BAD_README = """\
# datasets/sample-bad/

Generated by `datasets/make_sample.py`. Inputs that must fail or be skipped,
mixed with two good ones, for tests and demos of error handling. A run over
this folder should produce exactly 2 outputs and report 3 failures.

| File | What it is | Expected behaviour |
|---|---|---|
| `good-1.jpg` | 240x160 baseline JPEG q85 (downscaled `chelsea.png`, CC0 Stefan van der Walt) | processed normally |
| `good-2.jpg` | 240x160 baseline JPEG q85 (downscaled `rocket.jpg`, public domain SpaceX) | processed normally |
| `truncated.jpg` | `{trunc_src}` cut to its first {trunc_len} of {trunc_full} bytes (no EOI marker, scan data ends mid-stream) | decode error (or, if the decoder pads, a clearly reported warning) |
| `not-an-image.jpg` | plain ASCII text with a `.jpg` name | rejected: not a JPEG (bad magic) |
| `empty.png` | 0 bytes | rejected: empty file |
| `notes.txt` | plain text, non-image extension | skipped by extension, not counted as a failure |
| `README.md` | this file | skipped by extension, not counted as a failure |
"""

NOTES_TXT = """\
This is not an image. Directory scanners should skip it based on its
extension (.txt) instead of trying to decode it.
"""

NOT_AN_IMAGE = """\
This file is plain ASCII text even though its name ends in .jpg.
A decoder must reject it (it does not start with the JPEG SOI marker FF D8)
instead of crashing or producing an image.
"""


def build_bad(c):
    os.makedirs(BAD)
    cat = c.open("chelsea.png")
    cat.resize((240, 160), Image.Resampling.LANCZOS).save(
        os.path.join(BAD, "good-1.jpg"), format="JPEG", quality=85,
        subsampling=2, optimize=False)
    rocket = c.open("rocket.jpg")
    rocket.resize((240, 160), Image.Resampling.LANCZOS).save(
        os.path.join(BAD, "good-2.jpg"), format="JPEG", quality=85,
        subsampling=2, optimize=False)
    with open(os.path.join(SAMPLE, "objects", "coffee.jpg"), "rb") as f:
        full = f.read()
    cut = full[:len(full) // 2]
    with open(os.path.join(BAD, "truncated.jpg"), "wb") as f:
        f.write(cut)
    with open(os.path.join(BAD, "not-an-image.jpg"), "w") as f:
        f.write(NOT_AN_IMAGE)
    open(os.path.join(BAD, "empty.png"), "wb").close()
    with open(os.path.join(BAD, "notes.txt"), "w") as f:
        f.write(NOTES_TXT)
    with open(os.path.join(BAD, "README.md"), "w") as f:
        f.write(BAD_README.format(trunc_src="sample/objects/coffee.jpg",
                                  trunc_len=len(cut), trunc_full=len(full)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skimage-data", default=DEFAULT_SKIMAGE_DATA,
                    help="folder holding scikit-image's data files "
                         f"(default {DEFAULT_SKIMAGE_DATA})")
    ap.add_argument("--ignore-hash", action="store_true",
                    help="use source files even if their SHA-256 differs")
    args = ap.parse_args()

    for name, s in SOURCES.items():
        p = os.path.join(args.skimage_data, name)
        if not os.path.isfile(p):
            sys.exit(f"missing source photo {p} (install python3-skimage or "
                     f"pass --skimage-data)")
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != s["sha256"] and not args.ignore_hash:
            sys.exit(f"{p}: sha256 {digest} != expected {s['sha256']} "
                     f"(use --ignore-hash to proceed anyway)")

    for d in (SAMPLE, BAD):
        if os.path.isdir(d):
            shutil.rmtree(d)
    os.makedirs(SAMPLE)

    c = Ctx(args.skimage_data)
    build_sample(c)
    write_attribution(c)
    build_bad(c)

    total = sum(os.path.getsize(os.path.join(SAMPLE, r)) for r, _, _ in c.records)
    print(f"wrote {len(c.records)} images ({total / 1e6:.2f} MB) to {SAMPLE} "
          f"and 7 files to {BAD}")


if __name__ == "__main__":
    main()

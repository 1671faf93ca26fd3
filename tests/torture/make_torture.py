#!/usr/bin/python3
"""Builds the torture set: hostile, odd and borderline inputs for imgprep, in one folder.

Usage:
    /usr/bin/python3 tests/torture/make_torture.py OUTDIR

The set is what a careless user or an attacker hands imgprep: every file must end as an ok row
with the right pixels or a failed row with a clear reason, identically on every engine and
thread count, and never crash, hang or print. OUTDIR/<class>/... (first-level folders are
classes, so labels are exercised too):

  public/    test images that Debian's libjxl-testdata package ships (odd chroma subsamplings,
             non-interleaved and progressive JPEGs, RGB-coded JPEGs, 16-bit and alpha PNGs),
             when it is installed (/usr/share/libjxl-testdata); absent otherwise
  jpeg/      generated: abbreviated JPEGs (no DQT, no DHT), restart markers, CMYK, cuts at
             many points, no end marker, trailing bytes, zero and huge declared sizes
  png/       interlaced, 16-bit, palette + tRNS, gray + alpha, cut short, bad CRC, huge IHDR
  tiff/      strip and tiled, contiguous and separate planes, 8 and 16 bits
  other/     BMP (RLE, 1-bit, top-down), WebP (lossy, lossless, alpha, cut), GIF, empty files
  names/     odd file names: spaces, quotes, a newline, a leading dash, non-ASCII, bytes that
             are not UTF-8, a 250-byte name; symlinks to a file, to a folder, dangling, a loop;
             a FIFO and a folder named like images

Needs Pillow and numpy. Deterministic: the same Pillow/libjpeg-turbo build writes the same bytes.
"""

import io
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

PUBLIC = Path("/usr/share/libjxl-testdata")
# Public files that reach decoder paths the generated ones do not (found by name; missing
# ones are simply not copied).
PUBLIC_FILES = [
    "jxl/flower/flower.png.im_q85_420.jpg",
    "jxl/flower/flower.png.im_q85_420_R13B.jpg",
    "jxl/flower/flower.png.im_q85_420_progr.jpg",
    "jxl/flower/flower.png.im_q85_422.jpg",
    "jxl/flower/flower.png.im_q85_440.jpg",
    "jxl/flower/flower.png.im_q85_444.jpg",
    "jxl/flower/flower.png.im_q85_444_1x2.jpg",
    "jxl/flower/flower.png.im_q85_asymmetric.jpg",
    "jxl/flower/flower.png.im_q85_gray.jpg",
    "jxl/flower/flower.png.im_q85_luma_subsample.jpg",
    "jxl/flower/flower.png.im_q85_rgb.jpg",
    "jxl/flower/flower.png.im_q85_rgb_subsample_blue.jpg",
    "jxl/flower/flower_cropped.jpg",
    "jxl/flower/flower_small.q85_420_non_interleaved.jpg",
    "jxl/flower/flower_small.q85_420_partially_interleaved.jpg",
    "jxl/flower/flower_small.q85_444_non_interleaved.jpg",
    "jxl/flower/flower_small.q85_444_partially_interleaved.jpg",
    "jxl/jpeg_reconstruction/1x1_exif_xmp.jpg",
    "jxl/flower/flower_alpha.png",
    "jxl/grayscale_patches.png",
    "jxl/hdr_room.png",
    "external/wide-gamut-tests/rgb-to-gbr-test.png",
]


def pixels(w, h, seed):
    """Smooth gradients, an edge and seeded noise: content every codec has to work at."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([255 * x / max(w - 1, 1), 255 * y / max(h - 1, 1),
                     128 + 100 * np.sin((x + y) / 7.0)], axis=-1)
    base[: h // 3, : w // 3] = (250, 20, 30)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def encode(im, fmt, **params):
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ------------------------------------------------------------------------------------------
# JPEG
# ------------------------------------------------------------------------------------------

def jpeg_segments(data):
    """(marker, start, end) of every segment before the first scan's data, SOS included."""
    out, pos = [], 2
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        out.append((marker, pos, pos + 2 + length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return out


def without_segments(data, marker):
    """data with every segment of one marker type (0xDB DQT, 0xC4 DHT) taken out."""
    kept, last = bytearray(data[:2]), 2
    for m, start, end in jpeg_segments(data):
        if m == marker:
            kept += data[last:start]
            last = end
    return bytes(kept + data[last:])


def with_size(data, width, height):
    """data with the SOF's declared size replaced."""
    for m, start, _ in jpeg_segments(data):
        if m in (0xC0, 0xC1, 0xC2):
            patched = bytearray(data)
            patched[start + 5:start + 9] = struct.pack(">HH", height, width)
            return bytes(patched)
    raise ValueError("no SOF")


def make_jpeg(root):
    d = root / "jpeg"
    im = Image.fromarray(pixels(203, 151, 1))
    plain = encode(im, "JPEG", quality=90)
    optimised = encode(Image.fromarray(pixels(203, 151, 2)), "JPEG", quality=70, optimize=True)
    write(d / "plain.jpg", plain)
    write(d / "optimised.jpg", optimised)
    # Abbreviated files: without DQT the file cannot be decoded; without DHT the standard
    # tables apply (MJPEG), which Pillow's encoder used for `plain`.
    write(d / "no-dqt.jpg", without_segments(plain, 0xDB))
    write(d / "no-dht-standard-tables.jpg", without_segments(plain, 0xC4))
    write(d / "no-dht-optimised-tables.jpg", without_segments(optimised, 0xC4))
    write(d / "zz-no-dht-after-optimised.jpg", without_segments(plain, 0xC4))
    write(d / "progressive.jpg", encode(im, "JPEG", quality=85, progressive=True))
    write(d / "subsampling-444.jpg", encode(im, "JPEG", quality=85, subsampling=0))
    write(d / "subsampling-422.jpg", encode(im, "JPEG", quality=85, subsampling=1))
    write(d / "gray.jpg", encode(im.convert("L"), "JPEG", quality=85))
    write(d / "cmyk.jpg", encode(im.convert("CMYK"), "JPEG", quality=85))
    write(d / "1x1.jpg", encode(Image.fromarray(pixels(1, 1, 3)), "JPEG"))
    write(d / "5000x1.jpg", encode(Image.fromarray(pixels(5000, 1, 4)), "JPEG"))
    # Damage at many points: inside the headers, in the scan, just before the end marker.
    for fraction in (0.02, 0.1, 0.5, 0.9, 0.99):
        write(d / f"cut-{int(fraction * 100):02d}.jpg", plain[: int(len(plain) * fraction)])
    write(d / "no-end-marker.jpg", plain[:-2])
    write(d / "progressive-no-end-marker.jpg",
          encode(im, "JPEG", quality=85, progressive=True)[:-2])
    write(d / "trailing-bytes.jpg", plain + b"\0" * 100 + b"trailer")
    write(d / "zero-width.jpg", with_size(plain, 0, 151))
    write(d / "declared-65000x65000.jpg", with_size(plain, 65000, 65000))
    write(d / "declared-larger.jpg", with_size(plain, 400, 300))
    write(d / "soi-only.jpg", b"\xff\xd8")
    rng = np.random.default_rng(5)
    scan = jpeg_segments(plain)[-1][2]
    noisy = bytearray(plain)
    for at in rng.integers(scan, len(plain) - 2, 40):
        noisy[at] = rng.integers(0, 256)
    write(d / "scan-noise.jpg", bytes(noisy))


# ------------------------------------------------------------------------------------------
# PNG
# ------------------------------------------------------------------------------------------

def make_png(root):
    d = root / "png"
    rgb = pixels(97, 61, 6)
    im = Image.fromarray(rgb)
    plain = encode(im, "PNG")
    write(d / "plain.png", plain)
    write(d / "interlaced.png", interlaced_png(rgb))
    write(d / "gray-alpha.png", encode(im.convert("LA"), "PNG"))
    write(d / "rgba.png", encode(im.convert("RGBA"), "PNG"))
    write(d / "palette-trns.png", encode(im.convert("P"), "PNG", transparency=3))
    write(d / "gray16.png", encode(Image.fromarray(
        (rgb[..., 0].astype(np.uint16) * 257).astype(np.uint16)), "PNG"))
    write(d / "1bit.png", encode(im.convert("1"), "PNG"))
    write(d / "cut.png", plain[: len(plain) * 3 // 4])
    bad_crc = bytearray(plain)
    bad_crc[29] ^= 0xFF  # IHDR's CRC
    write(d / "bad-ihdr-crc.png", bytes(bad_crc))
    huge = bytearray(plain)
    huge[16:24] = struct.pack(">II", 200000, 200000)
    write(d / "declared-200000x200000.png", bytes(huge))


def interlaced_png(rgb):
    """An Adam7-interlaced PNG (Pillow cannot write one), made with zlib by hand."""
    import zlib
    h, w, _ = rgb.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        sub = rgb[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\0" + row.tobytes()

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))


# ------------------------------------------------------------------------------------------
# TIFF: a small writer, since Pillow writes neither separate planes nor tiles
# ------------------------------------------------------------------------------------------

def tiff_bytes(arr, planar=False, tile=None):
    """Uncompressed little-endian TIFF of arr (H x W x C, uint8 or uint16): contiguous or
    separate planes, in one strip per 8 rows or in tiles of tile x tile."""
    h, w, c = arr.shape
    bits = arr.dtype.itemsize * 8
    planes = [arr[..., i:i + 1] for i in range(c)] if planar else [arr]
    blocks = []
    for plane in planes:
        if tile:
            for ty in range(0, h, tile):
                for tx in range(0, w, tile):
                    block = np.zeros((tile, tile, plane.shape[2]), arr.dtype)
                    part = plane[ty:ty + tile, tx:tx + tile]
                    block[: part.shape[0], : part.shape[1]] = part
                    blocks.append(block.astype("<u2" if bits == 16 else "u1").tobytes())
        else:
            for y in range(0, h, 8):
                blocks.append(plane[y:y + 8].astype("<u2" if bits == 16 else "u1").tobytes())
    data = bytearray(b"II*\0" + struct.pack("<I", 0))
    offsets = []
    for block in blocks:
        offsets.append(len(data))
        data += block
    extra = bytearray()  # arrays that do not fit in an entry, after the IFD

    def array_at(values, kind):
        fmt = "<H" if kind == 3 else "<I"
        return bytes(b"".join(struct.pack(fmt, v) for v in values))

    entries = [(256, 4, [w]), (257, 4, [h]), (258, 3, [bits] * c), (259, 3, [1]),
               (262, 3, [2 if c >= 3 else 1]), (277, 3, [c]), (284, 3, [2 if planar else 1])]
    if c in (2, 4):
        entries.append((338, 3, [2]))  # unassociated alpha
    if tile:
        entries += [(322, 3, [tile]), (323, 3, [tile]), (324, 4, offsets),
                    (325, 4, [len(b) for b in blocks])]
    else:
        entries += [(273, 4, offsets), (278, 3, [8]), (279, 4, [len(b) for b in blocks])]
    entries.sort()
    ifd_at = len(data) + (len(data) & 1)
    data += b"\0" * (ifd_at - len(data))
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd = bytearray(struct.pack("<H", len(entries)))
    for tag, kind, values in entries:
        raw = array_at(values, kind)
        if len(raw) <= 4:
            ifd += struct.pack("<HHI", tag, kind, len(values)) + raw.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, kind, len(values), extra_at + len(extra))
            extra += raw
    ifd += struct.pack("<I", 0)
    data += ifd + extra
    data[4:8] = struct.pack("<I", ifd_at)
    return bytes(data)


def make_tiff(root):
    d = root / "tiff"
    rgb = pixels(45, 37, 7)
    for bits in (8, 16):
        arr = rgb if bits == 8 else rgb.astype(np.uint16) * 257 + 3
        for channels, name in ((1, "gray"), (3, "rgb"), (4, "rgba")):
            if channels == 1:
                a = arr[..., :1]
            elif channels == 4:
                a = np.concatenate([arr, arr[..., :1]], axis=-1)
            else:
                a = arr
            for planar in (False, True):
                if planar and channels == 1:
                    continue
                for tile in (None, 16):
                    layout = ("separate" if planar else "contig") + ("-tiled" if tile else "-strips")
                    write(d / f"{name}{bits}-{layout}.tif", tiff_bytes(a, planar, tile))
    write(d / "pillow-lzw.tif", encode(Image.fromarray(rgb), "TIFF", compression="tiff_lzw"))
    write(d / "cut.tif", tiff_bytes(rgb)[:1500])


# ------------------------------------------------------------------------------------------
# BMP, WebP, GIF and empty files
# ------------------------------------------------------------------------------------------

def make_other(root):
    d = root / "other"
    rgb = pixels(53, 41, 8)
    im = Image.fromarray(rgb)
    bmp = encode(im, "BMP")
    write(d / "plain.bmp", bmp)
    write(d / "1bit.bmp", encode(im.convert("1"), "BMP"))
    write(d / "palette.bmp", encode(im.convert("P"), "BMP"))
    top_down = bytearray(bmp)
    top_down[22:26] = struct.pack("<i", -41)
    write(d / "top-down.bmp", bytes(top_down))
    write(d / "cut.bmp", bmp[: len(bmp) // 2])
    write(d / "lossy.webp", encode(im, "WEBP", quality=80))
    write(d / "lossless.webp", encode(im, "WEBP", lossless=True))
    write(d / "alpha.webp", encode(im.convert("RGBA"), "WEBP", quality=80))
    write(d / "cut.webp", encode(im, "WEBP", quality=80)[:200])
    write(d / "anim.gif", encode(im.convert("P"), "GIF"))
    write(d / "empty.png", b"")
    write(d / "empty.jpg", b"")
    write(d / "text.png", b"this is not an image\n")


# ------------------------------------------------------------------------------------------
# Names, links and special files
# ------------------------------------------------------------------------------------------

def make_names(root):
    d = root / "names"
    d.mkdir(parents=True, exist_ok=True)
    good = encode(Image.fromarray(pixels(64, 48, 9)), "JPEG", quality=90)
    names = ["with space.jpg", "quote'\"s.jpg", "new\nline.jpg", "-leading-dash.jpg",
             "ünïcødé-日本.jpg", "percent%20.jpg", "back\\slash.jpg", ".hidden.jpg",
             "x" * 246 + ".jpg", "UPPER.JPG", "no-extension"]
    for name in names:
        write(d / name, good)
    # A name that is not UTF-8 (Latin-1 bytes).
    with open(os.path.join(os.fsencode(d), b"caf\xe9-latin1.jpg"), "wb") as f:
        f.write(good)
    (d / "folder.jpg").mkdir(exist_ok=True)
    os.symlink("with space.jpg", d / "link-to-file.jpg")
    os.symlink("/nonexistent/imgprep-torture.jpg", d / "dangling.jpg")
    (d / "sub").mkdir(exist_ok=True)
    write(d / "sub" / "inner.jpg", good)
    os.symlink("../sub", d / "sub" / "loop")
    os.mkfifo(d / "fifo.jpg")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    if PUBLIC.is_dir():
        for rel in PUBLIC_FILES:
            source = PUBLIC / rel
            if source.is_file():
                target = root / "public" / rel.replace("/", "--")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    make_jpeg(root)
    make_png(root)
    make_tiff(root)
    make_other(root)
    make_names(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

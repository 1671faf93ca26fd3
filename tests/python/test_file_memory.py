"""Memory taken by input files: a file whose first bytes are no image, or whose header announces
more pixels than --max-pixels, fails without being read further; and the files held in memory
at once stay within the run's budget (a gibibyte, or a quarter of the memory), whatever the
number of I/O threads. Sparse files make multi-gigabyte inputs that take no disk."""

import json
import os
import struct
import subprocess
import sys
import zlib

import pytest

from conftest import IMGPREP

GIB = 1 << 30
MB = 1 << 20

# Runs argv[1:] and prints the child's exit status and peak memory (KiB).
MEASURE = ("import resource, subprocess, sys\n"
           "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
           "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def run_measured(*args):
    """imgprep's exit status and peak resident memory in bytes."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(IMGPREP), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    rc, kib = proc.stdout.split()
    return int(rc), int(kib) * 1024


def sparse(path, head, size):
    path.write_bytes(head)
    os.truncate(path, size)
    return path


def jpeg_frame(width, height, padding_segments=0):
    """SOI, APP0, `padding_segments` full-size APP1 segments, then a frame header (SOF0)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    app1 = (b"\xff\xe1" + struct.pack(">H", 0xffff) + b"\0" * 0xfffd) * padding_segments
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes(
        [1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    return b"\xff\xd8" + app0 + app1 + sof


def png_header(width, height):
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr +
            struct.pack(">I", zlib.crc32(ihdr)))


def manifest(out):
    return {row["path"]: row for row in
            map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


def test_files_that_fail_on_their_header_are_not_read(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    sparse(inputs / "zeros.jpg", b"", 2 * GIB)
    sparse(inputs / "huge.jpg", jpeg_frame(30000, 30000), 2 * GIB)
    # The frame header lies beyond the first 64 KiB, after two 64 KiB segments.
    sparse(inputs / "huge-far.jpg", jpeg_frame(20000, 20000, padding_segments=2), 2 * GIB)
    sparse(inputs / "huge.png", png_header(100000, 100000), 2 * GIB)
    out = tmp_path / "out"
    rc, peak = run_measured("run", inputs, "-o", out, "--preset", "imagenet", "-q",
                            "--io-threads", "4", "--max-errors", "10")
    assert rc == 1
    assert peak < 300 * MB, f"peak memory {peak / MB:.0f} MB"
    rows = manifest(out)
    assert rows["zeros.jpg"]["error"] == "not a recognised image format"
    for name, (w, h) in {"huge.jpg": (30000, 30000), "huge-far.jpg": (20000, 20000),
                         "huge.png": (100000, 100000)}.items():
        assert rows[name]["status"] == "failed"
        assert rows[name]["error"].startswith(f"image is {w}x{h} = {w * h} pixels, over "
                                              "--max-pixels"), rows[name]


def test_files_in_memory_stay_within_the_budget(tmp_path, sample_dir):
    """Six 400 MB files, each a real JPEG followed by zeros: they decode, and no more of them
    are in memory at once than fit the budget, whatever the I/O threads and slots allow."""
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGESIZE")
    budget = min(GIB, memory // 4)
    size = 400 * MB
    if 3 * size > memory // 2:
        pytest.skip("too little memory to show the budget")
    inputs = tmp_path / "in"
    inputs.mkdir()
    jpeg = (sample_dir / "objects" / "clock-gray.jpg").read_bytes()
    for i in range(6):
        sparse(inputs / f"big-{i}.jpg", jpeg, size)
    out = tmp_path / "out"
    rc, peak = run_measured("run", inputs, "-o", out, "--preset", "imagenet", "-q",
                            "--io-threads", "6", "--threads", "2")
    assert rc == 0
    assert all(row["status"] == "ok" for row in manifest(out).values())
    # Unbounded, all six (2.4 GB) are read at once.
    assert peak < budget + size // 2, f"peak memory {peak / MB:.0f} MB"

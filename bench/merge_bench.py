#!/usr/bin/env python3
"""What listing the inputs and merging parts cost, per input: the fixed costs of a distributed run
besides the parts' own work.

    .venv/bin/python bench/merge_bench.py [DATASET] [--parts 8] [--repeat 5] [--copies 1]

DATASET: default ../shared/datasets/imagenet-1k; with --copies C the input is a list file naming
its images C times over (more rows, same files). Writes the parts once (`imgprep run INPUT -o OUT
--resize 32x32 --dtype uint8 --shard K/N` for each K: small tensors, since the merge's cost is
per row and per shard, not per byte), then times, --repeat times each,
`imgprep.plan` (the listing a driver and every part does) and `imgprep merge OUT` (the command,
process start included; merging again gives the same files), and prints the medians per input,
with the merged manifest's bytes per row. Run it with the project's .venv (imgprep on its path).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import imgprep

REPO = Path(__file__).resolve().parents[1]


def _images(folder: Path) -> list[str]:
    """The folder's files, sorted, as absolute paths."""
    return sorted(str(p.resolve()) for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default=str(REPO.parent / "shared" / "datasets" /
                                                          "imagenet-1k"))
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--imgprep", default=str(REPO / "build" / "bin" / "imgprep"))
    args = parser.parse_args()

    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    print(f"machine: {platform.machine()}, {platform.node()}, Python {platform.python_version()}")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(f"imgprep commit {commit}")
    work = Path(tempfile.mkdtemp(prefix="imgprep-merge-bench-"))
    try:
        out = work / "out"
        source = args.dataset
        if args.copies > 1:
            paths = _images(Path(args.dataset))
            source = str(work / "inputs.txt")
            Path(source).write_text("".join(f"{p}\n" for _ in range(args.copies) for p in paths))
        config = imgprep.Config(resize="32x32", dtype="uint8")
        for k in range(args.parts):
            subprocess.run([args.imgprep, "run", source, "-o", str(out), "--resize", "32x32",
                            "--dtype", "uint8", "--shard", f"{k}/{args.parts}", "-q"],
                           check=False)
        inputs = imgprep.plan(source, out, config, engine="cpu")["all_inputs"]
        print(f"data: {args.dataset} x {args.copies} ({inputs} inputs), {args.parts} parts")

        listing, merging = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            imgprep.plan(source, out, config, engine="cpu")
            listing.append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run([args.imgprep, "merge", str(out), "-q"], check=True)
            merging.append(time.perf_counter() - t)
        row_bytes = (out / "manifest.jsonl").stat().st_size / inputs
        print(f"listing (imgprep.plan): " + " ".join(f"{s * 1e3:.1f}" for s in listing) + " ms")
        print(f"merge (imgprep merge):  " + " ".join(f"{s * 1e3:.1f}" for s in merging) + " ms")
        list_s, merge_s = statistics.median(listing), statistics.median(merging)
        print(f"medians: listing {list_s * 1e3:.1f} ms ({list_s / inputs * 1e6:.1f} us per input); "
              f"merge {merge_s * 1e3:.1f} ms ({merge_s / inputs * 1e6:.1f} us per row, process "
              f"start included); manifest {row_bytes:.0f} bytes per row")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

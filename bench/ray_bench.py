#!/usr/bin/env python3
"""imgprep.ray on a Ray cluster of two nodes on this machine (1 CPU each, on 127.0.0.1 only)
against one `imgprep run --threads 2` of the same data, in interleaved rounds.

    .venv/bin/python bench/ray_bench.py [DATASET] [--rounds 3] [--starts 3] [--dtype uint8]

DATASET: default ../shared/datasets/coco-256. Every run does the ImageNet preset (shorter side
256, centre crop 224, mean/std) with --dtype uint8 (or --dtype float32), the CPU engine, npy
shards of 1024. Prints the machine, the exact commands, every round and the medians:
  - Ray's startup: imgprep.ray.LocalCluster (ray.cluster_utils.Cluster: a head node and a
    second node) until this driver is connected and both nodes are alive (--starts cycles, each
    stopped after);
  - wall seconds of the single run (the command, process start included) and of
    imgprep.ray.run with 2 parts (listing, tasks, merge), Ray's overhead in seconds and per cent;
  - resident memory (RSS) of the cluster's processes (GCS, raylets, agents, workers): idle, and
    the peak during a Ray run (sampled every 50 ms), plus this driver's.
Run it with the interpreter of the project's .venv (Ray, and imgprep on its path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

import imgprep  # noqa: E402
import imgprep.ray as imgprep_ray  # noqa: E402
import ray  # noqa: E402


def rss_kib(pids) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def shell(command: str) -> str:
    return subprocess.run(command, shell=True, capture_output=True, text=True).stdout.strip()


def tensors(out: Path):
    rows = [json.loads(line) for line in open(out / "manifest.jsonl")]
    shards = {}
    found = []
    for r in rows:
        if r["status"] == "ok":
            s = shards.setdefault(r["shard"], np.load(out / f"shard-{r['shard']:05d}.npy"))
            found.append((r["path"], s[r["row"]].tobytes()))
    return [{k: v for k, v in r.items() if k not in ("shard", "row")} for r in rows], found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", default=str(REPO.parent / "shared/datasets/coco-256"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--starts", type=int, default=3, help="cluster start/stop cycles timed")
    parser.add_argument("--dtype", default="uint8", choices=["uint8", "float32"])
    parser.add_argument("--imgprep", default=str(REPO / "build/bin/imgprep"))
    args = parser.parse_args()
    data = Path(args.dataset).resolve()
    settings = dict(preset="imagenet", dtype=args.dtype)
    config = imgprep.Config(**settings)

    print(f"date: {shell('date -u')}")
    cpu = shell("grep -m1 'model name' /proc/cpuinfo").split(":")[-1].strip()
    print(f"machine: {platform.machine()}, nproc {shell('nproc')}, {cpu}")
    print("free -g:\n" + shell("free -g"))
    print(f"kernel {platform.release()}, Python {platform.python_version()}, "
          f"Ray {ray.__version__}, "
          f"imgprep commit {shell(f'git -C {REPO} rev-parse --short HEAD')}"
          f"{' (tree modified)' if shell(f'git -C {REPO} status --porcelain') else ''}")
    print(f"data: {data} ({imgprep.plan(data, '/nonexistent', config, engine='cpu')['all_inputs']} "
          f"inputs)")
    single_cmd = [args.imgprep, "run", str(data), "-o", "OUT", "--preset", "imagenet",
                  "--dtype", args.dtype, "--engine", "cpu", "--threads", "2", "--quiet"]
    print("single: " + " ".join(single_cmd))
    print("ray:    imgprep.ray.LocalCluster(nodes=2, cpus_per_node=1); imgprep.ray.run(DATA, OUT, "
          f"imgprep.Config(preset='imagenet', dtype='{args.dtype}'), parts=2, cpus_per_part=1, "
          "progress=False)")
    print("        (ray.cluster_utils.Cluster: head and second node, 1 CPU and a 100 MiB object "
          "store each, no dashboard, on 127.0.0.1)")

    starts = []
    cluster = None
    for i in range(args.starts):
        cluster = imgprep_ray.LocalCluster(nodes=2, cpus_per_node=1)
        cluster.start()
        starts.append(cluster.start_seconds)
        print(f"start {i + 1}: {cluster.start_seconds:.2f} s until 2 nodes alive and connected")
        if i + 1 < args.starts:
            cluster.stop()
    work = Path(tempfile.mkdtemp(prefix="imgprep-ray-bench-"))
    try:
        time.sleep(2)
        idle = rss_kib(cluster.pids())
        pids_idle = len(cluster.pids())
        print(f"idle cluster: {pids_idle} processes, RSS {idle / 1024:.0f} MiB; driver RSS "
              f"{rss_kib([os.getpid()]) / 1024:.0f} MiB")
        # Warm-up: one untimed run of each (page cache, Ray workers started).
        subprocess.run([a.replace("OUT", str(work / "warm-single")) for a in single_cmd],
                       check=False)
        imgprep_ray.run(data, work / "warm-ray", config, parts=2, progress=False)
        shutil.rmtree(work / "warm-single")
        shutil.rmtree(work / "warm-ray")

        singles, rays, peaks, part_seconds = [], [], [], []
        checked = False
        for r in range(args.rounds):
            order = ("single", "ray") if r % 2 == 0 else ("ray", "single")
            for which in order:
                out = work / f"{which}-{r}"
                if which == "single":
                    t0 = time.monotonic()
                    proc = subprocess.run([a.replace("OUT", str(out)) for a in single_cmd])
                    seconds = time.monotonic() - t0
                    assert proc.returncode in (0, 1), proc.returncode
                    singles.append(seconds)
                else:
                    peak = [0]
                    stop = threading.Event()

                    def sample():
                        while not stop.is_set():
                            peak[0] = max(peak[0], rss_kib(cluster.pids()))
                            time.sleep(0.05)

                    sampler = threading.Thread(target=sample)
                    sampler.start()
                    try:
                        summary = imgprep_ray.run(data, out, config, parts=2, progress=False)
                    finally:
                        stop.set()
                        sampler.join()
                    seconds = summary["seconds"]
                    rays.append(seconds)
                    peaks.append(peak[0])
                    part_seconds.append(max(p["seconds"] for p in summary["part_summaries"]))
                    assert len(summary["nodes"]) == 2, summary["nodes"]
                print(f"round {r + 1} {which}: {seconds:.3f} s")
            if not checked:
                assert tensors(work / f"ray-{r}") == tensors(work / f"single-{r}"), \
                    "the merged output differs from the single run's"
                checked = True
                print("round 1: merged output equals the single run's, row for row and byte "
                      "for byte")
            shutil.rmtree(work / f"single-{r}")
            shutil.rmtree(work / f"ray-{r}")

        single, ray_s = statistics.median(singles), statistics.median(rays)
        n = imgprep.plan(data, "/nonexistent", config, engine="cpu")["all_inputs"]
        print()
        print(f"medians over {args.rounds} interleaved rounds ({n} inputs, {args.dtype}):")
        print(f"  single imgprep run --threads 2: {single:.3f} s, {n / single:.0f} images/s")
        print(f"  imgprep.ray.run, 2 nodes x 1 CPU: {ray_s:.3f} s, {n / ray_s:.0f} images/s "
              f"(slowest part's own run: {statistics.median(part_seconds):.3f} s)")
        print(f"  Ray overhead: {ray_s - single:+.3f} s ({(ray_s / single - 1) * 100:+.0f} %)")
        print(f"  Ray startup (median of {len(starts)}): {statistics.median(starts):.2f} s")
        print(f"  cluster RSS: idle {idle / 1024:.0f} MiB ({pids_idle} processes), peak during "
              f"a run {statistics.median(peaks) / 1024:.0f} MiB (median of the rounds' peaks)")
        print(json.dumps({"inputs": n, "dtype": args.dtype, "single_s": singles, "ray_s": rays,
                          "start_s": starts, "idle_rss_kib": idle, "peak_rss_kib": peaks,
                          "slowest_part_s": part_seconds}))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Training input pipelines, epoch by epoch: imgprep.Loader against a torch DataLoader with
torchvision transforms and against DALI's CPU pipeline, all doing ImageNet training
augmentation (RandomResizedCrop 224, random horizontal flip, normalise to float32 CHW), batch
256, every core. Also the evaluation pipeline: imgprep.Loader (resize 256, centre crop 224)
against `imgprep run` writing npy shards.

Each contender runs in a process of its own, rounds interleaved (A B C, A B C, ...); each run
times `--epochs` epochs after one untimed epoch and reports images/s per epoch. The driver
samples the resident memory of the contender's whole process tree (DataLoader workers included)
every 20 ms: its peak is the run's peak RSS. Medians over every timed epoch of every round.

    .venv/bin/python bench/loader_bench.py [DATASET] [--rounds 3] [--epochs 2] [--json FILE]

DALI comes from bench/.venv (scripts/setup.sh bench); without it that row says why.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared/datasets/imagenet-1k"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
BATCH = 256


def image_paths(dataset):
    exts = {".jpg", ".jpeg", ".png"}
    return sorted(str(p) for p in Path(dataset).rglob("*") if p.suffix.lower() in exts)


def timed_epochs(epochs, one_epoch):
    one_epoch()  # untimed: workers, caches, allocations
    rates = []
    for _ in range(epochs):
        start = time.perf_counter()
        count = one_epoch()
        rates.append(count / (time.perf_counter() - start))
    return rates


# -- contenders (each runs in its own process) ------------------------------------------------

def run_imgprep_train(dataset, epochs, cores):
    import imgprep
    loader = imgprep.Loader(dataset, imgprep.Config(preset="imagenet"), batch_size=BATCH,
                            seed=0, threads=cores, augment=[imgprep.RandomResizedCrop(224),
                                                            imgprep.RandomHorizontalFlip()])
    return timed_epochs(epochs, lambda: sum(len(images) for images, _ in loader))


def run_imgprep_eval(dataset, epochs, cores):
    import imgprep
    loader = imgprep.Loader(dataset, imgprep.Config(preset="imagenet"), batch_size=BATCH,
                            shuffle=False, threads=cores)
    return timed_epochs(epochs, lambda: sum(len(images) for images, _ in loader))


def run_imgprep_shards(dataset, epochs, cores):
    import shutil
    import tempfile
    out = Path(tempfile.mkdtemp(prefix="loader-bench-"))
    imgprep_bin = REPO / "build" / "bin" / "imgprep"

    def one_epoch():
        shutil.rmtree(out / "o", ignore_errors=True)
        subprocess.run([str(imgprep_bin), "run", dataset, "-o", str(out / "o"), "--preset",
                        "imagenet", "--engine", "cpu", "--threads", str(cores), "-q"],
                       check=True)
        return json.loads((out / "o" / "meta.json").read_text())["inputs"]
    try:
        return timed_epochs(epochs, one_epoch)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_dataloader(dataset, epochs, cores):
    import torch
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    paths = image_paths(dataset)

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            with open(paths[i], "rb") as f:
                return transform(Image.open(f).convert("RGB")), 0

    loader = torch.utils.data.DataLoader(Files(), batch_size=BATCH, shuffle=True,
                                         num_workers=cores, persistent_workers=True)
    return timed_epochs(epochs, lambda: sum(len(images) for images, _ in loader))


def run_dali(dataset, epochs, cores):
    from nvidia import dali
    fn, types = dali.fn, dali.types
    paths = image_paths(dataset)

    @dali.pipeline_def(batch_size=BATCH, num_threads=cores, device_id=None,
                       prefetch_queue_depth=1)
    def pipeline():
        jpegs, _ = fn.readers.file(files=paths, random_shuffle=True, name="reader")
        images = fn.decoders.image_random_crop(jpegs, device="cpu", output_type=types.RGB)
        images = fn.resize(images, resize_x=224, resize_y=224, antialias=True)
        return fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout="CHW",
                                        mean=[m * 255 for m in MEAN], std=[s * 255 for s in STD],
                                        mirror=fn.random.coin_flip())

    pipe = pipeline()
    pipe.build()
    runs = -(-len(paths) // BATCH)

    def one_epoch():
        count = 0
        for _ in range(runs):
            (out,) = pipe.run()
            count += len(out)
        return count
    return timed_epochs(epochs, one_epoch)


CONTENDERS = {
    "imgprep-loader": run_imgprep_train,
    "dataloader": run_dataloader,
    "dali-cpu": run_dali,
    "imgprep-loader-eval": run_imgprep_eval,
    "imgprep-run-shards": run_imgprep_shards,
}


# -- the driver ---------------------------------------------------------------------------------

def tree_rss_mib(pid):
    """Resident memory of pid and its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        todo += children.get(p, [])
    return total / 2**20


def run_contender(name, python, dataset, epochs, cores):
    proc = subprocess.Popen([python, __file__, "--child", name, dataset, "--epochs", str(epochs),
                             "--cores", str(cores)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mib(proc.pid))
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"error": (err.strip().splitlines() or ["exit %d" % proc.returncode])[-1]}
    return {"rates": json.loads(out), "peak_rss_mib": peak}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", default=str(DEFAULT_DATASET))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--only", default=",".join(CONTENDERS))
    parser.add_argument("--json")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CONTENDERS[args.child](args.dataset, args.epochs, args.cores)))
        return

    dali_python = REPO / "bench" / ".venv" / "bin" / "python"
    names = args.only.split(",")
    results = {n: {"rates": [], "peaks": [], "error": None} for n in names}
    for _ in range(args.rounds):
        for name in names:
            python = str(dali_python) if name == "dali-cpu" and dali_python.exists() else sys.executable
            r = run_contender(name, python, args.dataset, args.epochs, args.cores)
            if "error" in r:
                results[name]["error"] = r["error"]
                continue
            results[name]["rates"] += r["rates"]
            results[name]["peaks"].append(r["peak_rss_mib"])
    table = {}
    for name, r in results.items():
        if r["rates"]:
            table[name] = {"images_per_s": statistics.median(r["rates"]),
                           "min": min(r["rates"]), "max": max(r["rates"]),
                           "peak_rss_mib": max(r["peaks"]), "epochs": len(r["rates"])}
        else:
            table[name] = {"error": r["error"]}
    base = table.get("imgprep-loader", {}).get("images_per_s")
    print(f"{'contender':22} {'images/s':>9} {'(min-max)':>14} {'peak RSS':>10} {'loader x':>9}")
    for name, row in table.items():
        if "error" in row:
            print(f"{name:22} not run: {row['error']}")
            continue
        ratio = f"{base / row['images_per_s']:.2f}" if base else "-"
        print(f"{name:22} {row['images_per_s']:9.0f} {row['min']:6.0f}-{row['max']:<7.0f} "
              f"{row['peak_rss_mib']:8.0f} M {ratio:>9}")
    if args.json:
        Path(args.json).write_text(json.dumps({"dataset": args.dataset, "cores": args.cores,
                                               "rounds": args.rounds, "epochs": args.epochs,
                                               "results": table}, indent=2) + "\n")


if __name__ == "__main__":
    main()

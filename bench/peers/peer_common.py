"""Shared pieces of the peer benchmarks in this folder: the image walk, the common command-line
options (--repeat, --warmup, --json) and the report.

A peer that cannot run here (no GPU, a package missing) reports that instead of failing:
with --json it prints one line {"available": false, "reason": ...} and exits 0, so that
bench/compare.sh can show the row as "not run: <reason>"."""
import argparse
import json
import os
import statistics
import sys
from pathlib import Path

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
DEFAULT_DATASET = Path(__file__).resolve().parents[2].parent / 'shared/datasets/imagenet-1k'


def list_images(root):
    """Every image file under a folder, in sorted order of its relative path."""
    root = Path(root)
    return sorted((p for p in root.rglob('*')
                   if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS),
                  key=lambda p: p.relative_to(root).as_posix())


def _count(minimum):
    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be at least {minimum}')
        return value
    return parse


def add_common_arguments(parser):
    """The dataset positional and --repeat, --warmup, --json."""
    parser.add_argument('dataset', nargs='?', default=str(DEFAULT_DATASET),
                        help='folder of images (default: %(default)s)')
    parser.add_argument('--repeat', type=_count(1), default=5, help='timed epochs (default 5)')
    parser.add_argument('--warmup', type=_count(0), default=1,
                        help='untimed epochs first (default 1)')
    parser.add_argument('--json', action='store_true', help='print one JSON line instead of text')


def cpu_count():
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0))


def images_or_exit(name, dataset):
    """The images of the dataset folder; exits with a message when there are none."""
    if not Path(dataset).is_dir():
        sys.exit(f'{name}: no folder {dataset}')
    paths = list_images(dataset)
    if not paths:
        sys.exit(f'{name}: no images in {dataset}')
    return paths


def unavailable(args, name, reason):
    """Reports that the peer cannot run here, and exits 0."""
    if args.json:
        print(json.dumps({'available': False, 'reason': reason}))
    else:
        print(f'{name}: not run: {reason}')
    sys.exit(0)


def timed_epochs(args, epoch, describe, extra=None):
    """Runs args.warmup untimed and args.repeat timed calls of epoch() -> (images, seconds), then
    prints images/s per repeat and the median (or one JSON line with median_images_per_s, runs and
    the fields of extra). describe: text after the median in the text report."""
    for _ in range(args.warmup):
        epoch()
    runs = []
    images = 0
    for i in range(args.repeat):
        images, seconds = epoch()
        runs.append(images / seconds)
        if not args.json:
            print(f'repeat {i + 1}: {runs[-1]:.1f} images/s')
    median = statistics.median(runs)
    if args.json:
        print(json.dumps({'available': True, 'images': images, **(extra or {}),
                          'median_images_per_s': median, 'runs': runs}))
    else:
        print(f'median: {median:.1f} images/s ({images} images, {describe})')

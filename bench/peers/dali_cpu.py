#!/usr/bin/env python3
"""The DALI peer: NVIDIA DALI's CPU-only pipeline (device_id=None, num_threads=cores) doing ImageNet
eval preprocessing: fn.readers.file over the file list, fn.decoders.image(device='cpu', RGB),
fn.resize(resize_shorter=256, antialias=True) (DALI's default linear interpolation, antialiased),
fn.crop_mirror_normalize(crop 224x224 at the centre, mean/std scaled to 0..255, float32, CHW).
Batches come back to Python as DALI TensorLists on the CPU and are discarded. DALI rounds the
longer side where torchvision's Resize(256) truncates it, so some images come out one pixel longer
and their crop sits up to a pixel away from torchvision's; the work per image is the same.

An epoch is ceil(images / batch) pipeline runs; the reader wraps around at the end of the file
list, so the last batch is filled from the start of the list, and images/s counts every image the
pipeline returned. The pipeline keeps one batch in flight (prefetch_queue_depth=1) so that no
work of a later epoch runs inside a timed one. Building the pipeline is untimed.

DALI is not a Debian package: scripts/setup.sh bench installs the pip package nvidia-dali-cuda130
into bench/.venv (created with --system-site-packages); run this with bench/.venv/bin/python.
When DALI cannot be imported or its CPU pipeline cannot be built or run here, it reports the peer
as unavailable with DALI's error (one JSON line with --json) and exits 0."""
import argparse
import math
import time

import peer_common

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def first_line(error):
    """The first non-empty line of an exception's text, with its type."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f'{type(error).__name__}: {lines[0] if lines else ""}'


def build_pipeline(dali, paths, batch_size, threads):
    """The CPU-only DALI pipeline over the files, built."""
    fn = dali.fn
    types = dali.types

    @dali.pipeline_def(batch_size=batch_size, num_threads=threads, device_id=None,
                       prefetch_queue_depth=1)
    def imagenet_eval():
        encoded, _ = fn.readers.file(files=paths, random_shuffle=False, name='reader')
        images = fn.decoders.image(encoded, device='cpu', output_type=types.RGB)
        images = fn.resize(images, resize_shorter=256, antialias=True)
        return fn.crop_mirror_normalize(images, crop=(224, 224),
                                        mean=[255 * m for m in MEAN], std=[255 * s for s in STD],
                                        dtype=types.FLOAT, output_layout='CHW')

    pipeline = imagenet_eval()
    pipeline.build()
    return pipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    peer_common.add_common_arguments(parser)
    parser.add_argument('--threads', type=int, default=peer_common.cpu_count(),
                        help='DALI num_threads (default: the cores, %(default)s)')
    parser.add_argument('--batch-size', type=int, default=64, help='images per batch (default 64)')
    args = parser.parse_args()

    paths = [str(p) for p in peer_common.images_or_exit('dali_cpu.py', args.dataset)]
    try:
        import nvidia.dali as dali
        import nvidia.dali.fn  # noqa: F401  (dali.fn below)
        import nvidia.dali.types  # noqa: F401
    except ImportError as error:
        peer_common.unavailable(args, 'dali_cpu.py',
                                f'cannot import nvidia.dali ({error}); scripts/setup.sh bench '
                                'installs it into bench/.venv, run with bench/.venv/bin/python')
    try:
        pipeline = build_pipeline(dali, paths, args.batch_size, args.threads)
        pipeline.run()  # fails here, not inside the timing, if the CPU pipeline cannot run
    except Exception as error:  # DALI raises RuntimeError and others for an unusable setup
        peer_common.unavailable(args, 'dali_cpu.py',
                                f'DALI {dali.__version__} CPU pipeline failed: {first_line(error)}')
    runs_per_epoch = math.ceil(len(paths) / args.batch_size)

    def epoch():
        start = time.perf_counter()
        images = 0
        for _ in range(runs_per_epoch):
            (batch,) = pipeline.run()
            images += len(batch)
        return images, time.perf_counter() - start

    peer_common.timed_epochs(
        args, epoch, f'{args.threads} threads, batch {args.batch_size}',
        extra={'threads': args.threads, 'batch_size': args.batch_size, 'dali': dali.__version__})


if __name__ == '__main__':
    main()

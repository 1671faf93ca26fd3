#!/usr/bin/python3
"""The classic hand-rolled peer: multiprocessing.Pool(processes=cores) with OpenCV per image
(ImageNet eval preprocessing), the arrays sent back to the parent through pool.imap and discarded.

Per image, in a worker: cv2.imread (which applies EXIF orientation and turns grey into 3 channels),
BGR to RGB, resize so the shorter side is 256 (the longer side int(256 * long / short), as
torchvision's Resize(256)), centre crop 224 (offsets rounded as torchvision's CenterCrop), float32
/255, subtract the ImageNet mean, divide by the std, HWC to CHW. The resize uses cv2.INTER_AREA
when shrinking and cv2.INTER_LINEAR when enlarging: the closest cv2 equivalent of Pillow's
antialiased bilinear resize (cv2 has no antialiased bilinear; INTER_AREA averages every source
pixel that a destination pixel covers, INTER_LINEAR alone would alias when shrinking). Each worker
runs OpenCV single-threaded (cv2.setNumThreads(1)) so that the pool alone decides the parallelism.

The pool is created once, before the untimed warm-up epochs; an epoch is one pool.imap over all
files. Prints images/s per repeat and the median. Run with Debian's /usr/bin/python3."""
import argparse
import multiprocessing
import time

import cv2
import numpy as np

import peer_common

SHORTER = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def init_worker():
    """Runs once in every pool worker."""
    cv2.setNumThreads(1)


def preprocess(path):
    """One file to a float32 3x224x224 array (RGB, CHW, normalised)."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'cv2.imread cannot read {path}')
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    if width <= height:
        new_width, new_height = SHORTER, int(SHORTER * height / width)
    else:
        new_width, new_height = int(SHORTER * width / height), SHORTER
    if (new_width, new_height) != (width, height):
        shrinking = new_width < width
        rgb = cv2.resize(rgb, (new_width, new_height),
                         interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    top = int(round((new_height - CROP) / 2.0))
    left = int(round((new_width - CROP) / 2.0))
    crop = rgb[top:top + CROP, left:left + CROP]
    pixels = crop.astype(np.float32)
    pixels *= 1.0 / 255.0
    pixels -= MEAN
    pixels /= STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    peer_common.add_common_arguments(parser)
    parser.add_argument('--processes', type=int, default=peer_common.cpu_count(),
                        help='pool processes (default: the cores, %(default)s)')
    parser.add_argument('--chunksize', type=int, default=0,
                        help='pool.imap chunksize (default: images / (processes * 8), 1..16)')
    args = parser.parse_args()

    paths = [str(p) for p in peer_common.images_or_exit('mp_cv2.py', args.dataset)]
    chunksize = args.chunksize or max(1, min(16, len(paths) // (args.processes * 8)))

    with multiprocessing.Pool(processes=args.processes, initializer=init_worker) as pool:
        def epoch():
            start = time.perf_counter()
            images = 0
            for _ in pool.imap(preprocess, paths, chunksize=chunksize):
                images += 1
            return images, time.perf_counter() - start

        peer_common.timed_epochs(
            args, epoch, f'{args.processes} processes, chunksize {chunksize}',
            extra={'processes': args.processes, 'chunksize': chunksize,
                   'opencv': cv2.__version__})


if __name__ == '__main__':
    main()

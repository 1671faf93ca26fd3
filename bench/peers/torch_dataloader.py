#!/usr/bin/python3
"""The peer users would pick instead of imgprep: a torch DataLoader over PIL + torchvision
transforms (ImageNet eval: Resize(256), CenterCrop(224), ToTensor, Normalize), iterated without
writing anything. Prints images/s per repeat and the median. Run with Debian's /usr/bin/python3."""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
DEFAULT_DATASET = Path(__file__).resolve().parents[2].parent / 'shared/datasets/imagenet-1k'


class ImageFiles(torch.utils.data.Dataset):
    """Every image file under a folder, in sorted order of its relative path, unlabelled."""

    def __init__(self, root, transform):
        root = Path(root)
        self.paths = sorted((p for p in root.rglob('*')
                             if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS),
                            key=lambda p: p.relative_to(root).as_posix())
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        # torchvision's default_loader (pil_loader) does exactly this.
        with open(self.paths[index], 'rb') as f:
            image = Image.open(f).convert('RGB')
        return self.transform(image)


def epoch(loader):
    """Iterates every batch once; returns (images, seconds)."""
    start = time.perf_counter()
    images = 0
    for batch in loader:
        images += batch.shape[0]
    return images, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dataset', nargs='?', default=str(DEFAULT_DATASET),
                        help='folder of images (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=2, help='DataLoader num_workers (default 2)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--repeat', type=int, default=5, help='timed epochs (default 5)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed epochs first (default 1)')
    parser.add_argument('--json', action='store_true', help='print one JSON line instead of text')
    args = parser.parse_args()

    transform = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    dataset = ImageFiles(args.dataset, transform)
    if len(dataset) == 0:
        sys.exit(f'torch_dataloader.py: no images in {args.dataset}')
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size,
                                         num_workers=args.workers)

    for _ in range(args.warmup):
        epoch(loader)
    runs = []
    for i in range(args.repeat):
        images, seconds = epoch(loader)
        runs.append(images / seconds)
        if not args.json:
            print(f'repeat {i + 1}: {runs[-1]:.1f} images/s')
    median = statistics.median(runs)
    if args.json:
        print(json.dumps({'images': len(dataset), 'threads': args.workers,
                          'median_images_per_s': median, 'runs': runs}))
    else:
        print(f'median: {median:.1f} images/s ({len(dataset)} images, {args.workers} workers, '
              f'batch {args.batch_size})')


if __name__ == '__main__':
    main()

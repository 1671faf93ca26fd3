#!/usr/bin/python3
"""The peer users would pick instead of imgprep: a torch DataLoader over PIL + torchvision
transforms (ImageNet eval: Resize(256), CenterCrop(224), ToTensor, Normalize), iterated without
writing anything. Prints images/s per repeat and the median. Run with Debian's /usr/bin/python3.

The DataLoader keeps its default persistent_workers=False: every epoch, timed ones included,
starts its worker processes."""
import argparse
import time

import torch
from PIL import Image
from torchvision import transforms

import peer_common


class ImageFiles(torch.utils.data.Dataset):
    """Image files, unlabelled, in the order given."""

    def __init__(self, paths, transform):
        self.paths = paths
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        # torchvision's default_loader (pil_loader) does exactly this.
        with open(self.paths[index], 'rb') as f:
            image = Image.open(f).convert('RGB')
        return self.transform(image)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    peer_common.add_common_arguments(parser)
    parser.add_argument('--workers', type=int, default=2, help='DataLoader num_workers (default 2)')
    parser.add_argument('--batch-size', type=int, default=64)
    args = parser.parse_args()

    transform = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    dataset = ImageFiles(peer_common.images_or_exit('torch_dataloader.py', args.dataset), transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size,
                                         num_workers=args.workers)

    def epoch():
        """Iterates every batch once; returns (images, seconds)."""
        start = time.perf_counter()
        images = 0
        for batch in loader:
            images += batch.shape[0]
        return images, time.perf_counter() - start

    peer_common.timed_epochs(args, epoch, f'{args.workers} workers, batch {args.batch_size}',
                             extra={'threads': args.workers})


if __name__ == '__main__':
    main()

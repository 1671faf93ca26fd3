#!/usr/bin/python3
"""The GPU peer: torchvision decoding JPEGs on the GPU (nvJPEG through torchvision.io.decode_jpeg
with device='cuda') in batches, then ImageNet eval preprocessing on the GPU: resize the shorter
side to 256 (bilinear, antialias=True), centre crop 224, /255, mean/std, stacked into a float32
NCHW batch that is discarded.

An epoch reads every file (torchvision.io.read_file, from the page cache after the warm-up),
decodes each batch of --batch-size files with one decode_jpeg call (torchvision >= 0.19 decodes a
list in one batched nvJPEG call; older versions get one call per image), resizes and crops each
image (their sizes differ) and normalises the batch. It is timed with torch.cuda.synchronize() at
both ends. Files that are not JPEGs, and JPEGs that nvJPEG refuses, are decoded on the CPU
(torchvision.io.decode_image) and copied to the GPU. EXIF orientation is not applied.
CUDA initialisation and one priming decode and resize are done before the warm-up epochs, untimed.

Without a usable CUDA device (torch.cuda.is_available() false, or torch missing) it reports the
peer as unavailable with the reason (one JSON line with --json) and exits 0."""
import argparse
import time

import peer_common

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def cuda_unavailable_reason(torch):
    """Why torch cannot use a GPU here, or None when it can."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f'torch {torch.__version__} is built without CUDA'
    try:
        torch.cuda.init()
    except Exception as error:  # the driver's or runtime's own explanation
        return f'torch.cuda.is_available() is false: {str(error).strip().splitlines()[0]}'
    return 'torch.cuda.is_available() is false (no CUDA device)'


def version_tuple(text):
    """'0.19.1+cu124' -> (0, 19)."""
    parts = []
    for piece in text.split('+')[0].split('.')[:2]:
        digits = ''.join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


class GpuPreprocess:
    """Decoding and ImageNet eval preprocessing of batches of file contents on one CUDA device."""

    def __init__(self, torch, torchvision, device):
        from torchvision.io import ImageReadMode, decode_image, decode_jpeg
        from torchvision.transforms import functional
        self.torch = torch
        self.device = device
        self.rgb = ImageReadMode.RGB
        self.decode_image = decode_image
        self.decode_jpeg = decode_jpeg
        self.functional = functional
        self.batched_decode = version_tuple(torchvision.__version__) >= (0, 19)
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1)

    def decode_one(self, data):
        """One file's bytes to a uint8 3xHxW tensor on the GPU (nvJPEG, else the CPU)."""
        if data[:2].tolist() == [0xFF, 0xD8]:
            try:
                return self.decode_jpeg(data, mode=self.rgb, device=self.device)
            except RuntimeError:
                pass
        return self.decode_image(data, mode=self.rgb).to(self.device)

    def decode(self, datas):
        """Files' bytes (uint8 CPU tensors) to uint8 3xHxW tensors on the GPU."""
        jpegs = [i for i, data in enumerate(datas) if data[:2].tolist() == [0xFF, 0xD8]]
        images = [None] * len(datas)
        if self.batched_decode and jpegs:
            try:
                decoded = self.decode_jpeg([datas[i] for i in jpegs], mode=self.rgb,
                                           device=self.device)
                for i, image in zip(jpegs, decoded):
                    images[i] = image
            except RuntimeError:
                pass  # one file nvJPEG refuses fails the whole batch: decode one by one below
        return [image if image is not None else self.decode_one(datas[i])
                for i, image in enumerate(images)]

    def __call__(self, datas):
        """Files' bytes to a float32 Nx3x224x224 normalised batch on the GPU."""
        crops = []
        for image in self.decode(datas):
            resized = self.functional.resize(image.float(), 256, antialias=True)
            crops.append(self.functional.center_crop(resized, 224))
        batch = self.torch.stack(crops)
        batch.div_(255.0).sub_(self.mean).div_(self.std)
        return batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    peer_common.add_common_arguments(parser)
    parser.add_argument('--batch-size', type=int, default=64, help='files per decode (default 64)')
    parser.add_argument('--device', type=int, default=0, help='CUDA device (default 0)')
    args = parser.parse_args()

    paths = [str(p) for p in peer_common.images_or_exit('torchvision_gpu.py', args.dataset)]
    try:
        import torch
        import torchvision
        from torchvision.io import read_file
    except ImportError as error:
        peer_common.unavailable(args, 'torchvision_gpu.py', f'cannot import torch/torchvision: {error}')
    reason = cuda_unavailable_reason(torch)
    if reason:
        peer_common.unavailable(args, 'torchvision_gpu.py', reason)

    device = torch.device('cuda', args.device)
    torch.cuda.set_device(device)
    preprocess = GpuPreprocess(torch, torchvision, device)
    preprocess([read_file(paths[0])])  # CUDA context, nvJPEG handles, kernels: untimed
    torch.cuda.synchronize()

    def epoch():
        torch.cuda.synchronize()
        start = time.perf_counter()
        images = 0
        for first in range(0, len(paths), args.batch_size):
            datas = [read_file(p) for p in paths[first:first + args.batch_size]]
            images += preprocess(datas).shape[0]
        torch.cuda.synchronize()
        return images, time.perf_counter() - start

    peer_common.timed_epochs(
        args, epoch, f'batch {args.batch_size}, {torch.cuda.get_device_name(device)}',
        extra={'batch_size': args.batch_size, 'device': torch.cuda.get_device_name(device),
               'torch': torch.__version__, 'torchvision': torchvision.__version__})


if __name__ == '__main__':
    main()

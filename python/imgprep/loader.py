"""imgprep.Loader: batches for a training loop, made by imgprep's engine on all cores.

Shuffling, rank partition and augmentation are keyed by (seed, epoch, the input's position in
the dataset): every batch's bytes are the same for any thread count, prefetch depth or number
of ranks, and the ranks together cover every input each epoch.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from . import _imgprep

try:
    import torch
except ImportError:  # numpy arrays instead
    torch = None


class RandomResizedCrop:
    """torchvision.transforms.RandomResizedCrop: a box of `scale` of the area and `ratio` aspect
    (ten tries, then the central fallback), resized to `size` with antialiasing (Pillow's)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interp="linear"):
        self.height, self.width = (size, size) if isinstance(size, int) else tuple(size)
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.interp = interp

    def __repr__(self):
        return (f"RandomResizedCrop(size=({self.height}, {self.width}), scale={self.scale}, "
                f"ratio={self.ratio}, interp={self.interp!r})")


class RandomHorizontalFlip:
    """torchvision.transforms.RandomHorizontalFlip(p)."""

    def __init__(self, p=0.5):
        self.p = float(p)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class _Shards:
    """A folder that `imgprep run` wrote: its npy shards, memory-mapped, row by row in the
    manifest's order (the inputs that succeeded)."""

    def __init__(self, folder: Path):
        meta = json.loads((folder / "meta.json").read_text())
        if not meta.get("complete") or meta.get("output", {}).get("format", "npy") != "npy":
            raise ValueError(f"{folder}: not a complete run with npy shards")
        self.rows = []  # (shard, row, label)
        with open(folder / "manifest.jsonl") as f:
            for line in f:
                r = json.loads(line)
                if r["status"] == "ok":
                    label = r["label"] if r.get("label") is not None else -1
                    self.rows.append((r["shard"], r["row"], label))
        self.shards = {}
        for shard in sorted({s for s, _, _ in self.rows}):
            self.shards[shard] = np.load(folder / f"shard-{shard:05d}.npy", mmap_mode="r")

    def gather(self, indices):
        images = np.stack([self.shards[self.rows[i][0]][self.rows[i][1]] for i in indices])
        labels = np.array([self.rows[i][2] for i in indices], dtype=np.int64)
        return images, labels


def _is_run_output(source):
    return isinstance(source, (str, os.PathLike)) and (Path(source) / "meta.json").is_file() \
        and (Path(source) / "manifest.jsonl").is_file()


def _cuda_device(device) -> int | None:
    """None for "cpu"; the CUDA device index of "cuda" (device 0) or "cuda:N"."""
    text = str(device)
    if text == "cpu":
        return None
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not m:
        raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return int(m.group(1) or 0)


def _check_cuda_device(index, engine):
    """Refuses, saying why, a device the batches cannot be made on (`engine`: by the GPU
    engine) or handed over on."""
    usable, description = _imgprep.probe_gpu(index) if engine else (True, "")
    if not usable:
        raise ValueError(f"device='cuda:{index}': the GPU engine is unavailable: {description}")
    if torch is not None and not torch.cuda.is_available():
        raise ValueError(f"device='cuda:{index}': this PyTorch ({torch.__version__}) has no "
                         "CUDA, so it cannot take batches on the GPU")


def _read_source(source, classes):
    """(paths, labels) of a folder, a list file, or a sequence of (path, label)."""
    if isinstance(source, (str, os.PathLike)):
        paths, labels, _ = _imgprep.list_inputs(os.fspath(source), os.fspath(classes or ""))
        return paths, labels
    pairs = list(source)
    return [os.fspath(p) for p, _ in pairs], [int(label) for _, label in pairs]


class Loader:
    """Iterates (images, labels) batches: torch tensors when torch is importable, else numpy.

    source: a folder (ImageFolder labels), a list file (as the command reads), a sequence of
    (path, label), or a folder that `imgprep run` wrote (its npy shards, memory-mapped; no
    augmentation, config unused). config: an imgprep.Config (its values, dtype and layout; a
    RandomResizedCrop in augment replaces its resize and crop). Batches hold the inputs that
    succeeded: a failed input is left out, counted in `failed` (path, reason), or raised with
    on_error="raise".
    device="cuda" (or "cuda:N"): the GPU engine makes each batch in that device's memory and
    hands it over by DLPack, never through host memory (torch tensors on the device; without
    torch, arrays that any framework's from_dlpack takes). A batch's memory is reused once it
    is dropped and the device has finished the work queued before. A run's shards are copied
    to the device.
    A batch whose every input failed is yielded empty, so that every rank takes the same number
    of steps (a distributed step waits for all ranks).
    `last_batch` describes the batch last yielded: each row's input key (its position in the
    dataset), augmentation box (x, y, width, height) and flip.
    """

    def __init__(self, source, config, batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False,
                 augment: Sequence[Any] = (), device: str = "cpu", pin_memory: bool = False,
                 prefetch: int = 2, threads: int | None = None, on_error: str = "skip",
                 classes: str | os.PathLike | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got {rank} of {world_size}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer of 0 or more, got {seed!r}")
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error: expected skip or raise, got {on_error!r}")
        self._cuda = _cuda_device(device)
        self._shards = _Shards(Path(source)) if _is_run_output(source) else None
        if self._shards is not None:
            if augment:
                raise ValueError("augment needs images: the shards of a run hold finished tensors")
            self._paths = [None] * len(self._shards.rows)
            self._labels = [label for _, _, label in self._shards.rows]
        else:
            self._paths, self._labels = _read_source(source, classes)
        if not self._paths:
            raise ValueError("no inputs")
        self.batch_size = batch_size
        self.shuffle, self.seed = shuffle, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.prefetch, self.on_error, self.pin_memory = prefetch, on_error, pin_memory
        self.augment = tuple(augment)
        crop = next((a for a in self.augment if isinstance(a, RandomResizedCrop)), None)
        flip = next((a for a in self.augment if isinstance(a, RandomHorizontalFlip)), None)
        unknown = [a for a in self.augment if not isinstance(a, (RandomResizedCrop,
                                                                 RandomHorizontalFlip))]
        if unknown:
            raise ValueError(f"augment: unknown {unknown[0]!r}")
        self._crop, self._flip = crop, flip
        if self._shards is None:
            self._config = config if threads is None else config.replace(threads=threads)
            if self._cuda is not None:
                if config.to_dict().get("engine") == "cpu":
                    raise ValueError(f"device={device!r} makes batches with the GPU engine; "
                                     "the config asks for engine='cpu'")
                self._config = self._config.replace(engine="gpu", device=self._cuda)
            self._options_for(0)  # refuses bad settings now
        if self._cuda is not None:
            if self._shards is not None and torch is None:
                raise ValueError("device='cuda' with a run's shards needs torch: the finished "
                                 "tensors are copied to the GPU")
            _check_cuda_device(self._cuda, engine=self._shards is None)
        self.epoch = 0
        self._next_batch = 0  # of this epoch, for state_dict
        self.failed: list[tuple[str, str]] = []
        self.last_batch: dict | None = None
        self._stream = None
        # Batch memory, reused across epochs: the batches waiting, the one being filled and
        # two in the loop's hands.
        self._buffers = _imgprep.BatchBuffers(
            prefetch + 3, -1 if self._cuda is None or self._shards is not None else self._cuda)

    # -- the epoch's inputs --------------------------------------------------------------------

    def _options_for(self, epoch):
        c, f = self._crop, self._flip
        return _imgprep.with_augment(
            self._config._options, c.width if c else 0, c.height if c else 0,
            *(c.scale if c else (0.08, 1.0)), *(c.ratio if c else (3 / 4, 4 / 3)),
            c.interp if c else "", f.p if f else 0.0, self.seed, epoch)

    def _rank_indices(self, epoch):
        """This rank's inputs of `epoch`, as DistributedSampler takes them: the shuffled order
        padded by repetition (or cut, with drop_last) to a multiple of world_size, then every
        world_size-th from `rank`."""
        n = len(self._paths)
        order = (_imgprep.shuffled_order(n, self.seed, epoch) if self.shuffle
                 else list(range(n)))
        if self.drop_last:
            total = n // self.world_size * self.world_size
            order = order[:total]
        else:
            total = math.ceil(n / self.world_size) * self.world_size
            order = (order * math.ceil(total / n))[:total]
        return order[self.rank:total:self.world_size]

    def __len__(self):
        """Batches per epoch for this rank (the same for every rank and epoch)."""
        n, world = len(self._paths), self.world_size
        per_rank = n // world if self.drop_last else math.ceil(n / world)
        if self.drop_last:
            return per_rank // self.batch_size
        return math.ceil(per_rank / self.batch_size)

    def set_epoch(self, epoch: int):
        """Starts epoch `epoch` (its shuffle and augmentation) at its first batch."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an integer of 0 or more, got {epoch!r}")
        self.epoch, self._next_batch = epoch, 0

    def state_dict(self) -> dict:
        """Where the loader is: load_state_dict continues from the next batch exactly."""
        return {"epoch": self.epoch, "next_batch": self._next_batch, "seed": self.seed,
                "inputs": len(self._paths), "world_size": self.world_size, "rank": self.rank,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict):
        for key in ("seed", "inputs", "world_size", "rank", "batch_size"):
            mine = self.state_dict()[key]
            if state[key] != mine:
                raise ValueError(f"state_dict: {key} is {state[key]}, this loader's is {mine}")
        self.epoch, self._next_batch = int(state["epoch"]), int(state["next_batch"])

    # -- iterating -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator:
        self.close()
        epoch, first = self.epoch, self._next_batch
        indices = self._rank_indices(epoch)
        batches = len(self)
        indices = indices[first * self.batch_size:batches * self.batch_size]
        if self._shards is not None:
            yield from self._shard_batches(epoch, indices)
            return
        options = self._options_for(epoch)
        stream = _imgprep.BatchStream([self._paths[i] for i in indices],
                                      [self._labels[i] for i in indices],
                                      [int(i) for i in indices], options, self.batch_size,
                                      self.prefetch, self._buffers)
        self._stream = stream
        try:
            while True:
                batch = stream.next(options)
                if batch is None:
                    break
                images, labels, keys, boxes, flipped, failed = batch
                for index, reason in failed:
                    path = self._paths[indices[index]]
                    if self.on_error == "raise":
                        raise RuntimeError(f"{path}: {reason}")
                    self.failed.append((path, reason))
                self._next_batch += 1
                self.last_batch = {"keys": keys, "boxes": boxes, "flipped": flipped}
                yield self._tensors(images, labels)
            self.epoch, self._next_batch = epoch + 1, 0  # the next pass is the next epoch
        finally:
            stream.close()
            if self._stream is stream:
                self._stream = None

    def _shard_batches(self, epoch, indices):
        for start in range(0, len(indices), self.batch_size):
            keys = indices[start:start + self.batch_size]
            images, labels = self._shards.gather(keys)
            self._next_batch += 1
            self.last_batch = {"keys": keys, "boxes": [], "flipped": []}
            yield self._tensors(images, labels)
        self.epoch, self._next_batch = epoch + 1, 0

    def _tensors(self, images, labels):
        if torch is None:
            return images, labels
        labels = torch.from_numpy(labels)
        if self._cuda is not None and self._shards is None:  # made on the device
            images = torch.from_dlpack(images)
            return images, labels.to(images.device)
        images = torch.from_numpy(images)
        if self._cuda is not None:
            device = torch.device("cuda", self._cuda)
            return images.to(device), labels.to(device)
        if self.pin_memory and torch.cuda.is_available():
            images, labels = images.pin_memory(), labels.pin_memory()
        return images, labels

    def close(self):
        """Stops the engine of an iteration in progress (also when the loader is deleted)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

"""imgprep.Loader: batches equal to `imgprep run`'s tensors, the same bytes for any threads,
prefetch or batch size, ranks that partition an epoch, exact resumption, torchvision's
RandomResizedCrop/hflip byte for byte on PIL, bad inputs left out, and bounded memory.

References: the shards the command writes, torchvision.transforms.functional on PIL images, and
the loader's own batches under other settings.
"""

import gc
import math
import re
import resource
import time

import numpy as np
import pytest
import torch
import torch.nn as nn
import torchvision.transforms.functional as TF
from PIL import Image

import imgprep
from conftest import REPO, pil_open_rgb, run_imgprep

SAMPLE = REPO / "datasets" / "sample"
SAMPLE_BAD = REPO / "datasets" / "sample-bad"
TRAIN = [imgprep.RandomResizedCrop(64), imgprep.RandomHorizontalFlip()]


def epoch_of(loader):
    """Every (key, image bytes, label) of one pass, in order."""
    rows = []
    for images, labels in loader:
        keys = loader.last_batch["keys"]
        assert len(keys) == len(images) == len(labels)
        rows += [(k, images[i].numpy().tobytes(), int(labels[i])) for i, k in enumerate(keys)]
    return rows


def test_without_augmentation_equals_the_command(tmp_path):
    command = run_imgprep(SAMPLE, tmp_path / "out", "--preset", "imagenet", "--engine", "cpu")
    shard = np.load(command.out / "shard-00000.npy")
    labels = np.load(command.out / "labels-00000.npy")
    loader = imgprep.Loader(SAMPLE, imgprep.Config(preset="imagenet"), batch_size=5,
                            shuffle=False)
    got = epoch_of(loader)
    assert [k for k, _, _ in got] == list(range(17))
    for key, image, label in got:
        assert image == shard[key].tobytes() and label == labels[key]


def test_shards_of_a_run_give_the_same_batches_as_the_images(tmp_path):
    command = run_imgprep(SAMPLE, tmp_path / "out", "--preset", "imagenet", "--shard-size", "4",
                          "--engine", "cpu")
    from_images = epoch_of(imgprep.Loader(SAMPLE, imgprep.Config(preset="imagenet"),
                                          batch_size=5, seed=4))
    from_shards = epoch_of(imgprep.Loader(command.out, None, batch_size=5, seed=4))
    assert from_shards == from_images
    with pytest.raises(ValueError, match="augment needs images"):
        imgprep.Loader(command.out, None, batch_size=5, augment=TRAIN)


def test_same_batches_for_any_threads_prefetch_and_batch_size():
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    runs = {}
    procs = config.replace(engine="cpu", cpu_engine="procs", workers=2)
    for threads, prefetch, batch, c in [(1, 1, 4, config), (2, 4, 4, config), (2, 1, 17, config),
                                        (1, 3, 3, config), (None, 2, 5, procs)]:
        loader = imgprep.Loader(SAMPLE, c, batch_size=batch, seed=7, augment=TRAIN,
                                threads=threads, prefetch=prefetch)
        runs[(threads, prefetch, batch, c is procs)] = epoch_of(loader)
    first = next(iter(runs.values()))
    assert sorted(k for k, _, _ in first) == list(range(17))
    for rows in runs.values():
        assert rows == first


def test_ranks_partition_an_epoch_with_equal_lengths():
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    whole = {k: img for k, img, _ in epoch_of(imgprep.Loader(SAMPLE, config, batch_size=3, seed=1,
                                                             augment=TRAIN))}
    keys, lengths = [], []
    for rank in range(4):
        loader = imgprep.Loader(SAMPLE, config, batch_size=3, seed=1, augment=TRAIN, rank=rank,
                                world_size=4)
        rows = epoch_of(loader)
        lengths.append(len(loader))
        assert len(rows) == math.ceil(17 / 4)  # padded by repetition
        for k, image, _ in rows:
            assert image == whole[k]  # the same draw for the same input whatever the rank
        keys += [k for k, _, _ in rows]
    assert len(set(lengths)) == 1
    assert set(keys) == set(range(17)) and len(keys) == 20
    dropped = [len(epoch_of(imgprep.Loader(SAMPLE, config, batch_size=3, seed=1, rank=r,
                                           world_size=4, drop_last=True))) for r in range(4)]
    assert dropped == [3] * 4  # 16 of 17 inputs, whole batches only


def test_epochs_differ_and_state_dict_resumes_exactly():
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    loader = imgprep.Loader(SAMPLE, config, batch_size=4, seed=3, augment=TRAIN)
    e0 = epoch_of(loader)
    e1 = epoch_of(loader)  # a completed pass moves on to the next epoch
    assert [k for k, _, _ in e0] != [k for k, _, _ in e1]
    loader.set_epoch(1)
    assert epoch_of(loader) == e1

    loader.set_epoch(5)
    partial = []
    for n, (images, _) in enumerate(loader):
        partial.append(images.numpy().tobytes())
        if n == 1:
            break
    state = loader.state_dict()
    assert state["epoch"] == 5 and state["next_batch"] == 2
    fresh = imgprep.Loader(SAMPLE, config, batch_size=4, seed=3, augment=TRAIN)
    fresh.load_state_dict(state)
    rest = [images.numpy().tobytes() for images, _ in fresh]
    fresh.set_epoch(5)
    assert partial + rest == [images.numpy().tobytes() for images, _ in fresh]


def test_resized_crop_and_flip_equal_torchvision_on_pil():
    config = imgprep.Config(preset="imagenet", dtype="uint8", layout="nhwc")
    loader = imgprep.Loader(SAMPLE, config, batch_size=6, seed=11, augment=[
        imgprep.RandomResizedCrop((48, 64)), imgprep.RandomHorizontalFlip(0.5)])
    paths = {k: p for k, p in enumerate(imgprep._imgprep.list_inputs(str(SAMPLE), "")[0])}
    checked, flips = 0, set()
    for images, _ in loader:
        info = loader.last_batch
        for i, key in enumerate(info["keys"]):
            x, y, w, h = info["boxes"][i]
            ref = TF.resized_crop(pil_open_rgb(paths[key]), y, x, h, w, [48, 64],
                                  interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
            if info["flipped"][i]:
                ref = TF.hflip(ref)
            flips.add(info["flipped"][i])
            assert np.array_equal(images[i].numpy(), np.asarray(ref)), (paths[key], info["boxes"][i])
            checked += 1
    assert checked == 17 and flips == {True, False}


def test_box_distribution_follows_torchvision(tmp_path):
    # One image listed many times: each position draws its own box.
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 100), (90, 120, 150)).save(path)
    n = 400
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    for scale, ratio in [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.9, 1.0), (3.0, 3.0))]:
        loader = imgprep.Loader([(path, 0)] * n, config, batch_size=50, seed=2,
                                augment=[imgprep.RandomResizedCrop(32, scale, ratio)])
        boxes = []
        for _ in loader:
            boxes += loader.last_batch["boxes"]
        assert len(boxes) == n
        for x, y, w, h in boxes:
            assert 0 <= x and x + w <= 300 and 0 <= y and y + h <= 100
        if ratio == (3.0, 3.0):
            # 300x100 is exactly 3:1, so a 0.9..1.0 area at ratio 3 fits only near the whole
            # image; sqrt(area*3) > 300 often: those inputs fall back to the central box, which
            # for in_ratio == 3 is the whole image.
            assert (0, 0, 300, 100) in boxes
        else:
            areas = np.array([w * h / 30000 for _, _, w, h in boxes])
            ratios = np.array([w / h for _, _, w, h in boxes])
            assert areas.min() >= 0.07 and areas.max() <= 1.0
            assert ratios.min() >= 3 / 4 * 0.9 and ratios.max() <= 4 / 3 * 1.1
            assert len(set(boxes)) > n * 0.9  # distinct draws per input


def test_fallback_path_is_torchvisions(tmp_path):
    # A 1000x10 strip: no 0.9..1.0-area box with ratio 3/4..4/3 fits, so every draw falls back
    # to torchvision's central crop: in_ratio 100 > 4/3 gives h = 10, w = round(10 * 4/3) = 13.
    path = tmp_path / "strip.png"
    Image.new("RGB", (1000, 10), (1, 2, 3)).save(path)
    loader = imgprep.Loader([(path, 0)] * 20, imgprep.Config(preset="imagenet"), batch_size=20,
                            augment=[imgprep.RandomResizedCrop(8, scale=(0.9, 1.0))])
    next(iter(loader))
    assert set(loader.last_batch["boxes"]) == {((1000 - 13) // 2, 0, 13, 10)}


def test_bad_inputs_are_left_out_and_listed():
    config = imgprep.Config(preset="imagenet")
    loader = imgprep.Loader(SAMPLE_BAD, config, batch_size=2, shuffle=False)
    total = sum(len(images) for images, _ in loader)
    assert total == 2 and len(loader.failed) == 3
    assert all(reason for _, reason in loader.failed)
    # A batch of failures only is yielded empty: every rank keeps the same number of steps.
    broken = imgprep.Loader([(SAMPLE_BAD / "empty.png", 0), (SAMPLE_BAD / "notes.txt", 0),
                             (SAMPLE_BAD / "good-1.jpg", 1)], config, batch_size=2, shuffle=False)
    assert [len(images) for images, _ in broken] == [0, 1] and len(broken) == 2
    with pytest.raises(ValueError, match="seed must be"):
        imgprep.Loader(SAMPLE_BAD, config, batch_size=2, seed=-1)
    strict = imgprep.Loader(SAMPLE_BAD, config, batch_size=2, shuffle=False, on_error="raise")
    with pytest.raises(RuntimeError):
        for _ in strict:
            pass


def test_twenty_epochs_keep_memory_flat():
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    loader = imgprep.Loader(SAMPLE, config, batch_size=4, augment=TRAIN, threads=2)

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    for _ in loader:
        pass
    gc.collect()
    before = rss_mb()
    for _ in range(20):
        for _ in loader:
            pass
    gc.collect()
    assert rss_mb() - before < 8


def os_threads():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def test_leaving_early_and_deleting_stop_every_thread():
    config = imgprep.Config(preset="imagenet")
    pairs = [(p, 0) for p in imgprep._imgprep.list_inputs(str(SAMPLE), "")[0]]
    for _ in imgprep.Loader(pairs, config, batch_size=8):
        pass  # starts what stays for the process (TBB's worker threads)
    before = os_threads()
    for leave in ("break", "del", "exception"):
        loader = imgprep.Loader(pairs * 30, config, batch_size=4, prefetch=2)
        start = time.time()
        try:
            for n, _ in enumerate(loader):
                if n == 1:
                    if leave == "exception":
                        raise ZeroDivisionError("a failing training step")
                    break
        except ZeroDivisionError:
            pass
        if leave == "del":
            del loader
        gc.collect()
        assert time.time() - start < 30, leave
        assert os_threads() == before, leave


def test_a_small_cnn_learns_from_the_loader():
    torch.manual_seed(0)
    config = imgprep.Config(preset="imagenet")
    loader = imgprep.Loader(SAMPLE, config, batch_size=8, seed=0, augment=[
        imgprep.RandomResizedCrop(32, scale=(0.5, 1.0)), imgprep.RandomHorizontalFlip()])
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                          nn.Flatten(), nn.Linear(128, 4))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(12):
        for images, labels in loader:
            loss = nn.functional.cross_entropy(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert np.mean(losses[-6:]) < np.mean(losses[:6]) * 0.8, losses


def test_ctrl_c_in_the_loop_stops_promptly(tmp_path):
    import signal
    import subprocess
    import sys
    import textwrap
    script = textwrap.dedent(f"""
        import sys, imgprep

        def os_threads():
            with open("/proc/self/status") as f:
                return int(next(l for l in f if l.startswith("Threads:")).split()[1])

        pairs = [(p, 0) for p in imgprep._imgprep.list_inputs({str(SAMPLE)!r}, "")[0]]
        config = imgprep.Config(preset="imagenet")
        for _ in imgprep.Loader(pairs, config, batch_size=8):
            pass  # starts what stays for the process (TBB's worker threads)
        before = os_threads()
        loader = imgprep.Loader(pairs * 1000, config, batch_size=8)
        try:
            for n, _ in enumerate(loader):
                if n == 2:
                    print("looping", flush=True)
        except KeyboardInterrupt:
            print("interrupted", os_threads() - before, flush=True)
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "looping"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out.strip() == "interrupted 0"  # no thread of the engine is left


def test_two_loaders_at_once_give_their_own_batches():
    import threading
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    alone = [epoch_of(imgprep.Loader(SAMPLE, config, batch_size=4, seed=s, augment=TRAIN))
             for s in (1, 2)]
    together = [None, None]

    def run(i):
        together[i] = epoch_of(imgprep.Loader(SAMPLE, config, batch_size=4, seed=i + 1,
                                              augment=TRAIN))

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone and alone[0] != alone[1]


def test_device_cuda_makes_batches_on_the_gpu_or_says_why_not():
    """On a machine with a usable GPU (and torch with CUDA) the batches are CUDA tensors equal to
    the CPU engine's; elsewhere the loader refuses with the reason the GPU engine gives. (The
    device path runs without a GPU in tests/gpu_fake/test_fake_gpu_loader.py.)"""
    usable, why = imgprep._imgprep.probe_gpu(0)
    config = imgprep.Config(preset="imagenet")
    if not usable:
        with pytest.raises(ValueError, match=re.escape("the GPU engine is unavailable: " + why)):
            imgprep.Loader(SAMPLE, config, 4, device="cuda")
        return
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="has no CUDA"):
            imgprep.Loader(SAMPLE, config, 4, device="cuda")
        return
    device = imgprep.Loader(SAMPLE, config, 5, augment=TRAIN, device="cuda")
    cpu = imgprep.Loader(SAMPLE, config.replace(engine="cpu"), 5, augment=TRAIN)
    on_gpu = []
    for images, labels in device:
        assert images.is_cuda and labels.is_cuda
        on_gpu.append((images.cpu(), labels.cpu()))
    on_cpu = list(cpu)
    assert len(on_gpu) == len(on_cpu) == 4
    for (g_images, g_labels), (c_images, c_labels) in zip(on_gpu, on_cpu):
        assert torch.equal(g_images, c_images) and torch.equal(g_labels, c_labels)

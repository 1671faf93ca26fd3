"""imgprep.Loader(device="cuda") without a GPU: the Python package built on the fake CUDA runtime.

build/tests/gpu_fake/python/imgprep is the package with its module linked against
fake_cuda_runtime.cpp (see test_fake_gpu_engine.py): the GPU engine keeps each tensor in "device"
memory (host memory the fake maps PROT_NONE except while it runs stream work, so reading it from
the host would crash), the batch is put together there, and the loader hands it over by DLPack.
Torch here has no CUDA, so these tests take the loader's torch-less form (DLPack arrays) and read
each batch back with the fake's own cudaMemcpy, then hold it byte-equal to the CPU engine's batch
for the same settings: any difference is the device path's batching, copies or buffer reuse.
"""

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from conftest import REPO, SAMPLE  # noqa: E402

import torch as real_torch  # noqa: E402

# The package's loader is imported without torch: it then yields DLPack arrays on the device.
sys.modules["torch"] = None
import imgprep  # noqa: E402
import imgprep.loader  # noqa: E402

sys.modules["torch"] = real_torch
assert imgprep.loader.torch is None
assert "gpu_fake" in imgprep._imgprep.__file__, imgprep._imgprep.__file__

SAMPLE_BAD = Path(os.environ.get("IMGPREP_SAMPLE_BAD", REPO / "datasets/sample-bad"))
FAKE = ctypes.CDLL(imgprep._imgprep.__file__)
FAKE.cudaMemcpy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
FAKE.cudaMemcpy.restype = ctypes.c_int
DEVICE_TO_HOST = 2
KDLCUDA = 2


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16),
                ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
DTYPES = {(2, 32): np.float32, (2, 16): np.float16, (1, 8): np.uint8}


def to_host(array):
    """A device array's bytes, read by DLPack and the fake runtime's cudaMemcpy."""
    assert array.__dlpack_device__() == (KDLCUDA, 0)
    capsule = array.__dlpack__()
    t = DLTensor.from_address(_get_pointer(capsule, b"dltensor"))
    assert (t.device_type, t.device_id, t.lanes) == (KDLCUDA, 0, 1)
    shape = tuple(t.shape[i] for i in range(t.ndim))
    out = np.empty(shape, DTYPES[(t.code, t.bits)])
    if t.strides and out.size:  # in elements: C order
        assert tuple(t.strides[i] * out.itemsize for i in range(t.ndim)) == out.strides
    if out.nbytes:
        assert FAKE.cudaMemcpy(out.ctypes.data, t.data + t.byte_offset, out.nbytes,
                               DEVICE_TO_HOST) == 0
    return out


def loaders(source, batch_size=4, augment=(), **config):
    """(on the device, the CPU engine's) loaders of the same settings."""
    config = imgprep.Config(preset="imagenet", **config)
    kw = dict(batch_size=batch_size, seed=7, augment=augment)
    return (imgprep.Loader(source, config, device="cuda", **kw),
            imgprep.Loader(source, config.replace(engine="cpu"), **kw))


def epoch(loader, read=to_host):
    batches = []
    for images, labels in loader:
        batches.append((read(images), labels.copy(), dict(loader.last_batch)))
    return batches


def assert_same(device_batches, cpu_batches):
    assert len(device_batches) == len(cpu_batches)
    for (d_images, d_labels, d_meta), (c_images, c_labels, c_meta) in zip(device_batches,
                                                                          cpu_batches):
        assert d_images.dtype == c_images.dtype and d_images.shape == c_images.shape
        assert np.array_equal(d_images, c_images)
        assert np.array_equal(d_labels, c_labels)
        assert d_meta == c_meta


AUGMENTS = {
    "centre crop": (),
    "RandomResizedCrop and flip": (imgprep.RandomResizedCrop(64, interp="linear"),
                                   imgprep.RandomHorizontalFlip()),
}


@pytest.mark.parametrize("augment", AUGMENTS.values(), ids=AUGMENTS.keys())
def test_device_batches_equal_the_cpu_engines(augment):
    device, cpu = loaders(SAMPLE, batch_size=5, augment=augment, dtype="float16")
    for e in (0, 1):
        device.set_epoch(e)
        cpu.set_epoch(e)
        device_batches = epoch(device)
        assert_same(device_batches, epoch(cpu, read=lambda a: a))
        assert sum(len(labels) for _, labels, _ in device_batches) == 17
    if augment:
        flips = [f for _, _, meta in device_batches for f in meta["flipped"]]
        assert True in flips and False in flips


def test_uint8_nhwc_batches():
    device, cpu = loaders(SAMPLE, batch_size=8, dtype="uint8", layout="nhwc")
    batches = epoch(device)
    assert batches[0][0].shape == (8, 224, 224, 3) and batches[0][0].dtype == np.uint8
    assert_same(batches, epoch(cpu, read=lambda a: a))


def test_failed_inputs_are_left_out_as_on_the_cpu():
    device, cpu = loaders(SAMPLE_BAD, batch_size=2)
    assert_same(epoch(device), epoch(cpu, read=lambda a: a))
    assert device.failed == cpu.failed and len(device.failed) == 3


def test_a_held_batch_is_not_overwritten_by_later_ones():
    """Batch memory is recycled only once the caller drops the batch: batches kept from the
    first epoch still hold their bytes after two more epochs have reused the pool."""
    device, cpu = loaders(SAMPLE, batch_size=3)
    kept = [(images, labels.copy()) for images, labels in device]
    for _ in range(2):
        for images, _ in device:
            del images
    reference = epoch(cpu, read=lambda a: a)
    for (images, labels), (c_images, c_labels, _) in zip(kept, reference):
        assert np.array_equal(to_host(images), c_images)
        assert np.array_equal(labels, c_labels)


def run_script(script, **env):
    """A fresh interpreter with this package (torch hidden), so the fake's report and injected
    faults belong to it alone."""
    env = {**os.environ, **env}
    prelude = "import sys; sys.modules['torch'] = None\nimport imgprep\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_no_round_trip_through_the_host(tmp_path):
    report = tmp_path / "report.json"
    proc = run_script(f"""
        loader = imgprep.Loader({str(SAMPLE)!r}, imgprep.Config(preset="imagenet"), 4,
                                device="cuda")
        for _ in range(2):
            n = sum(images.__dlpack_device__() == (2, 0) and len(labels) for images, labels in loader)
            assert n == 17, n
        """, IMGPREP_FAKE_CUDA_REPORT=str(report))
    assert proc.returncode == 0, proc.stderr
    import json
    copies = json.loads(report.read_text())["memcpy_async"]
    assert set(copies) == {"HostToDevice", "DeviceToDevice"}, copies
    # Each tensor twice on the device: into its job's buffer, then into its batch.
    assert copies["DeviceToDevice"]["count"] == 2 * 2 * 17
    assert copies["DeviceToDevice"]["bytes"] == 2 * 2 * 17 * 3 * 224 * 224 * 4


def test_a_failing_gpu_ends_the_iteration_with_its_error():
    proc = run_script(f"""
        loader = imgprep.Loader({str(SAMPLE)!r}, imgprep.Config(preset="imagenet"), 4,
                                device="cuda")
        try:
            for images, labels in loader:
                pass
        except imgprep.GpuError as e:
            print("raised:", e)
        """, IMGPREP_FAKE_CUDA_FAIL_AFTER="3")
    assert proc.returncode == 0, proc.stderr
    assert "raised: copy on the GPU: " in proc.stdout, proc.stdout


def test_what_cannot_be_done_is_refused():
    config = imgprep.Config(preset="imagenet")
    with pytest.raises(ValueError, match=r"no CUDA device 3 \(1 present\)"):
        imgprep.Loader(SAMPLE, config, 4, device="cuda:3")
    with pytest.raises(ValueError, match="the config asks for engine='cpu'"):
        imgprep.Loader(SAMPLE, config.replace(engine="cpu"), 4, device="cuda")
    with pytest.raises(ValueError, match="need one output size for every image"):
        for _ in imgprep.Loader(SAMPLE, imgprep.Config(resize="shorter:64"), 4, device="cuda"):
            pass


def test_torch_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(imgprep.loader, "torch", real_torch)
    assert not real_torch.cuda.is_available()
    with pytest.raises(ValueError, match="has no CUDA, so it cannot take batches on the GPU"):
        imgprep.Loader(SAMPLE, imgprep.Config(preset="imagenet"), 4, device="cuda")


def test_batches_of_jpegs_decoded_on_the_gpu(monkeypatch):
    """device="cuda" with decode="gpu": the JPEGs are decoded by the (fake) nvJPEG too, and the
    batches still equal the CPU engine's at full scale."""
    monkeypatch.setenv("IMGPREP_NVJPEG_LIBRARY", os.environ["IMGPREP_FAKE_NVJPEG"])
    config = imgprep.Config(preset="imagenet", decode="gpu", cpu_decode_share=0)
    device = imgprep.Loader(SAMPLE, config, 6, seed=7, device="cuda")
    cpu = imgprep.Loader(SAMPLE, imgprep.Config(preset="imagenet", engine="cpu",
                                                shrink_on_load="off"), 6, seed=7)
    assert_same(epoch(device), epoch(cpu, read=lambda a: a))

"""The package with numpy 2 and without torch (.venv-numpy2, made by scripts/setup.sh test): the
same tensors as with Debian's numpy 1.24, numpy arrays from the loader, and its errors."""

import subprocess
import textwrap

import numpy as np

import imgprep
from conftest import REPO

SAMPLE = REPO / "datasets" / "sample"
PYTHON2 = REPO / ".venv-numpy2" / "bin" / "python"


def test_numpy2_without_torch_gives_the_same_arrays(tmp_path):
    assert PYTHON2.exists(), "no .venv-numpy2: run scripts/setup.sh test"
    script = textwrap.dedent(f"""
        import sys, numpy as np, imgprep
        assert np.__version__.startswith("2"), np.__version__
        assert "torch" not in sys.modules
        config = imgprep.Config(preset="imagenet")
        paths = sorted(__import__("pathlib").Path({str(SAMPLE)!r}).rglob("*.jpg"))
        images, status = imgprep.process(paths, config)
        np.save({str(tmp_path / "process.npy")!r}, images)
        loader = imgprep.Loader({str(SAMPLE)!r}, config, batch_size=5, seed=1,
                                augment=[imgprep.RandomResizedCrop(32), imgprep.RandomHorizontalFlip()])
        batches = [(x, y) for x, y in loader]
        assert all(type(x) is np.ndarray and type(y) is np.ndarray for x, y in batches)
        np.save({str(tmp_path / "loader.npy")!r}, np.concatenate([x for x, _ in batches]))
        try:
            imgprep.Config(batch="abc")
        except ValueError as e:
            print(e)
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "build" / "python")}
    proc = subprocess.run([str(PYTHON2), "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "--batch: expected a whole number, got 'abc'"

    config = imgprep.Config(preset="imagenet")
    images, _ = imgprep.process(sorted(SAMPLE.rglob("*.jpg")), config)
    assert np.array_equal(np.load(tmp_path / "process.npy"), images)
    loader = imgprep.Loader(SAMPLE, config, batch_size=5, seed=1,
                            augment=[imgprep.RandomResizedCrop(32), imgprep.RandomHorizontalFlip()])
    mine = np.concatenate([x.numpy() for x, _ in loader])
    assert np.array_equal(np.load(tmp_path / "loader.npy"), mine)

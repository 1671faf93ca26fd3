"""The README's Python examples, run as written against real outputs, labelled and unlabelled."""

import re

import numpy as np
import torch

from conftest import REPO, copy_files


def python_blocks():
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def shards_class():
    """The quick start's Shards dataset (its definition, without the example's DataLoader)."""
    block = next(b for b in python_blocks() if "class Shards" in b)
    namespace = {}
    exec(block.split("\nloader =")[0], namespace)
    return namespace["Shards"]


def test_shards_dataset_reads_labelled_outputs(imgprep, sample_dir):
    run = imgprep(sample_dir, "--preset", "imagenet", "--shard-size", "5")
    dataset = shards_class()(str(run.out))
    ok = [r for r in run.manifest if r["status"] == "ok"]
    assert len(dataset) == len(ok) and len(run.shard_files()) > 1
    for i, row in enumerate(ok):
        x, y = dataset[i]
        assert torch.equal(x, torch.from_numpy(run.output(row["path"])))
        assert y == row["label"]
    batch, labels = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch.shape == (4, 3, 224, 224) and labels.tolist() == [r["label"] for r in ok[:4]]


def test_shards_dataset_reads_unlabelled_outputs(imgprep, sample_dir, tmp_path):
    flat = copy_files(sorted(sample_dir.glob("animals/*.jpg")), tmp_path / "flat")
    run = imgprep(flat, "--preset", "imagenet")
    assert run.label_files() == []
    dataset = shards_class()(str(run.out))
    assert len(dataset) == 3
    assert torch.equal(dataset[1], torch.from_numpy(run.output(run.ok_paths()[1])))


def test_numpy_example_reads_the_other_files(imgprep, sample_dir):
    run = imgprep(sample_dir, "--preset", "imagenet")
    block = next(b for b in python_blocks() if 'out = "out/sample"' in b)
    namespace = {}
    exec(block.replace('out = "out/sample"', f'out = "{run.out}"'), namespace)
    ok = namespace["ok"]
    assert np.array_equal(namespace["first"], run.output(ok[0]["path"]))
    assert namespace["classes"] == ["animals", "objects", "space", "textures"]
    assert namespace["failed"] == []

"""imgprep.ray on a real Ray cluster of two nodes on this machine (imgprep.ray.LocalCluster: a
head and a second node of 1 CPU each, every process on 127.0.0.1 only): the merged output of the parts equals one `imgprep.run` of the
same inputs byte for byte, the work runs on both nodes, a worker killed in the middle of a part
is retried and resumes it, a part that keeps failing is named with its reason, the Ray Data
callable gives imgprep.process's tensors, and `python -m imgprep.ray` keeps the command's exit
codes. Every Ray process the module started is ended at the end, whatever happened."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import imgprep

ray = pytest.importorskip("ray")
import imgprep.ray as imgprep_ray  # noqa: E402

from conftest import (REPO, manifest_rows, ok_tensors,  # noqa: E402
                      sample_with_failures, without_location)

COCO = Path(os.environ.get("IMGPREP_COCO", REPO.parent / "shared" / "datasets" / "coco-256"))

SETTINGS = dict(preset="imagenet", dtype="uint8", resize="shorter:40", crop="center:32",
                shard_size=4)
CONFIG = imgprep.Config(**SETTINGS)


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of 1 CPU each on this machine, on 127.0.0.1 only; this process is the
    driver. Stopped at the end, and none of its processes may be left."""
    local = imgprep_ray.LocalCluster(nodes=2, cpus_per_node=1)
    try:
        local.start()
        yield local
    finally:
        local.stop()
        assert local.pids() == [], "Ray processes left after stop()"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The sample set with sample-bad's three failing files: 20 inputs."""
    return sample_with_failures(tmp_path_factory.mktemp("inputs") / "photos")


def whole_run(input, out, config=CONFIG):
    summary = imgprep.run(input, out, config, threads=2, quiet=True)
    return Path(out), summary


def assert_same_dataset(out, whole):
    """OUT holds, row for row and byte for byte, what the single run wrote in `whole`."""
    assert without_location(manifest_rows(out)) == without_location(manifest_rows(whole))
    mine, theirs = ok_tensors(out), ok_tensors(whole)
    assert len(mine) == len(theirs) > 0
    for (path, a, label), (path_w, b, label_w) in zip(mine, theirs):
        assert path == path_w and label == label_w
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), path
    meta, meta_w = (json.loads((p / "meta.json").read_text()) for p in (Path(out), whole))
    assert meta["identity"] == meta_w["identity"]
    for key in ("complete", "inputs", "failed", "skipped", "has_labels"):
        assert meta[key] == meta_w[key], key
    for name in ("classes.json",):  # written when the inputs have classes
        mine, theirs = Path(out) / name, whole / name
        assert mine.exists() == theirs.exists(), name
        assert not theirs.exists() or mine.read_bytes() == theirs.read_bytes(), name


def test_workers_import_this_package(cluster):
    @ray.remote(num_cpus=1)
    def where():
        import imgprep as package
        return package.__file__, sys.executable

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        found = set(ray.get([where.remote() for _ in range(2)]))
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert found == {(imgprep.__file__, sys.executable)}
    assert sum(1 for n in ray.nodes() if n["Alive"]) == 2
    assert ray.cluster_resources()["CPU"] == 2


def test_parts_on_both_nodes_equal_one_run(cluster, inputs, tmp_path, capfd):
    whole, expected = whole_run(inputs, tmp_path / "whole")
    summary = imgprep_ray.run(inputs, tmp_path / "out", CONFIG, parts=4)
    assert summary["parts"] == 4 and summary["inputs"] == expected["inputs"] == 20
    assert summary["processed"] == expected["processed"] == 17  # the inputs that succeeded
    assert summary["failed"] == expected["failed_in_all"] == 3
    assert summary["exit_code"] == expected["exit_code"] == 1
    assert len(set(summary["nodes"])) == 2, summary["nodes"]  # both nodes did work
    parts = summary["part_summaries"]
    assert [p["part"] for p in parts] == [0, 1, 2, 3]
    assert [p["inputs"] for p in parts] == [5, 5, 5, 5]
    assert sum(p["failed_in_all"] for p in parts) == 3
    assert not any(p["resumed"] for p in parts)
    assert summary["merge"] == {"parts": 4, "format": "npy", "inputs": 20, "failed": 3,
                                "files": summary["merge"]["files"], "copied": 0}
    assert summary["seconds"] > 0 and summary["images_per_second"] > 0
    assert_same_dataset(tmp_path / "out", whole)
    err = capfd.readouterr().err
    assert "imgprep-ray: 20 inputs in 4 parts on 2 nodes" in err
    assert "imgprep-ray: 4/4 parts done, 20 of 20 inputs" in err
    # Again: every part is complete and resumes at once; the merge gives the same files.
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    again = imgprep_ray.run(inputs, tmp_path / "out", CONFIG, parts=4, progress=False)
    assert again["processed"] == 0 and again["failed"] == 3
    assert all(p["already_complete"] and p["resumed"] for p in again["part_summaries"])
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()} == before


@pytest.mark.skipif(not COCO.is_dir(), reason=f"no coco-256 data set at {COCO}")
def test_coco_default_parts_equal_one_run(cluster, tmp_path):
    config = CONFIG.replace(shard_size=16)
    whole, expected = whole_run(COCO, tmp_path / "whole", config)
    summary = imgprep_ray.run(COCO, tmp_path / "out", config, progress=False)
    assert summary["parts"] == 2  # the cluster's 2 CPUs, 1 per part
    assert summary["inputs"] == expected["inputs"] == 256
    assert summary["failed"] == expected["failed_in_all"]
    assert len(set(summary["nodes"])) == 2
    assert_same_dataset(tmp_path / "out", whole)


@pytest.fixture(scope="module")
def slow_inputs(tmp_path_factory):
    """64 inputs slow enough (2400x1800 noise JPEGs decoded at full size, ~40 ms each) that a
    part of 32 lasts over a second: 4 distinct files, each linked 16 times."""
    from PIL import Image
    root = tmp_path_factory.mktemp("slow") / "photos"
    (root / "noise").mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i in range(4):
        pixels = rng.integers(0, 256, (1800, 2400, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "noise" / f"img-{i:03d}.jpg", quality=90)
    for i in range(4, 64):
        os.link(root / "noise" / f"img-{i % 4:03d}.jpg", root / "noise" / f"img-{i:03d}.jpg")
    return root


def part_worker(cluster, k, n):
    """The pid of the Ray worker running part k of n (its process title names the task)."""
    title = f"ray::imgprep part {k} of {n}".encode()
    for pid in cluster.pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(title):
                    return pid
        except OSError:
            continue
    return None


def journalled_shards(folder):
    """How many shards a running part's journal records as complete (whole lines only)."""
    try:
        text = (Path(folder) / "journal.jsonl").read_bytes()
    except FileNotFoundError:
        return 0
    return text.count(b"\n")


def test_killed_worker_is_retried_and_resumes_its_part(cluster, slow_inputs, tmp_path):
    config = CONFIG.replace(shard_size=2, shrink_on_load="off")
    whole, _ = whole_run(slow_inputs, tmp_path / "whole", config)
    out = tmp_path / "out"
    part0 = out / "part-00000-of-00002"
    result = {}

    def drive():
        try:
            result["summary"] = imgprep_ray.run(slow_inputs, out, config, parts=2,
                                                progress=False)
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            result["error"] = e

    driver = threading.Thread(target=drive)
    driver.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and driver.is_alive() and time.monotonic() < deadline:
        # Once part 0's journal records a shard (the shard file is renamed into place just before
        # its journal line), and well before its last (of 16), kill the worker running it: the
        # retry then has shards to keep and rows left to do.
        if journalled_shards(part0) >= 1 and not (part0 / "shard-00008.npy").exists():
            pid = part_worker(cluster, 0, 2)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                killed = pid
        time.sleep(0.01)
    driver.join(timeout=300)
    assert killed is not None, "part 0 finished before its worker could be killed"
    assert "error" not in result, result.get("error")
    summary = result["summary"]
    first = summary["part_summaries"][0]
    assert first["resumed"] and first["pid"] != killed
    assert 0 < first["processed"] < first["inputs"] == 32  # the complete shards were kept
    assert summary["processed"] < 64 and summary["inputs"] == 64 and summary["failed"] == 0
    assert_same_dataset(out, whole)


def test_part_that_keeps_failing_is_named_after_the_others_finish(cluster, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00001-of-00003").write_text("not a folder\n")
    with pytest.raises(imgprep_ray.PartsFailed) as caught:
        imgprep_ray.run(inputs, out, CONFIG, parts=3, max_retries=1, progress=False)
    message = str(caught.value)
    assert "part 1 of 3 failed" in message and "not a folder" in message, message
    assert "OutputError" in message and "2 of 3 parts complete" in message, message
    assert list(caught.value.failures) == [1]
    assert [s["part"] for s in caught.value.summaries] == [0, 2]
    for k in (0, 2):
        meta = json.loads((out / f"part-{k:05d}-of-00003" / "meta.json").read_text())
        assert meta["complete"] and meta["part"]["index"] == k
    assert not (out / "meta.json").exists()  # nothing merged


def test_a_part_of_another_input_list_is_refused(tmp_path):
    folder = tmp_path / "part-00000-of-00002"
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps(
        {"part": {"index": 0, "count": 2, "whole": {"count": 9, "fingerprint": "abc"}}}))
    imgprep_ray._check_part_record(folder, 0, 2, 9, "abc")
    with pytest.raises(imgprep_ray.PartMismatch, match="lists 9 inputs .* driver listed 10"):
        imgprep_ray._check_part_record(folder, 0, 2, 10, "abc")


def test_map_batches_gives_the_tensors_of_process(cluster, inputs):
    paths = sorted(str(p) for p in inputs.rglob("*") if p.is_file())
    expected, status = imgprep.process(paths, CONFIG)
    items = [{"path": p, "bytes": Path(p).read_bytes()} for p in paths]
    ds = ray.data.from_items(items)
    ds = ds.map_batches(imgprep_ray.ImageBatchTransform, fn_constructor_kwargs={"config": CONFIG},
                        batch_size=8, batch_format="numpy", concurrency=1, num_cpus=1)
    ds = ds.map_batches(imgprep_ray.ImageBatchTransform, batch_format="numpy", batch_size=8,
                        fn_constructor_kwargs={"config": CONFIG, "bytes_column": "bytes",
                                               "image_column": "from_bytes",
                                               "error_column": "bytes_error"},
                        concurrency=1, num_cpus=1)
    got = {r["path"]: r for r in ds.take_all()}
    assert sorted(got) == paths
    assert sum(1 for s in status if s) == 3
    for path, image, why in zip(paths, expected, status):
        row = got[path]
        assert row["image"].dtype == np.uint8 and row["image"].shape == (3, 32, 32)
        assert row["image"].tobytes() == image.tobytes(), path
        assert row["from_bytes"].tobytes() == image.tobytes(), path
        assert row["error"] == (why or "")
        assert bool(row["bytes_error"]) == bool(why), (path, row["bytes_error"])


def test_read_webdataset_reads_wds_parts_merged(cluster, inputs, tmp_path):
    """Ray Data's own WebDataset reader takes the merged tars of a Ray run: each sample's
    tensor, label and manifest row equal the npy output's."""
    npy_out, _ = whole_run(inputs, tmp_path / "npy")
    summary = imgprep_ray.run(inputs, tmp_path / "wds", CONFIG.replace(format="wds"), parts=3,
                              progress=False)
    assert summary["merge"]["format"] == "wds"
    tars = sorted(str(p) for p in (tmp_path / "wds").glob("shard-*.tar"))
    samples = sorted(ray.data.read_webdataset(tars).take_all(), key=lambda s: s["__key__"])
    expected = ok_tensors(npy_out)
    assert len(samples) == len(expected) == 17
    for sample, (path, tensor, label) in zip(samples, expected):
        assert sample["json"]["path"] == path and sample["json"]["key"] == sample["__key__"]
        assert sample["npy"].dtype == np.uint8 and sample["npy"].tobytes() == tensor.tobytes()
        assert sample["cls"] == label


def test_module_command_exit_codes(cluster, inputs, tmp_path):
    whole, _ = whole_run(inputs, tmp_path / "whole")
    command = [sys.executable, "-m", "imgprep.ray", str(inputs), "-o", str(tmp_path / "out"),
               "--address", cluster.address, "--parts", "2", "--preset", "imagenet",
               "--dtype", "uint8", "--resize", "shorter:40", "--crop=center:32",
               "--shard-size", "4"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr  # 3 inputs failed, as `imgprep run` says
    assert "imgprep-ray: merged 2 parts into" in proc.stderr, proc.stderr
    assert "20 inputs, 3 failed" in proc.stdout
    assert_same_dataset(tmp_path / "out", whole)
    bad = subprocess.run(command[:6] + ["--resize", "sideways:3"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("imgprep-ray: "), bad.stderr
    assert "--resize" in bad.stderr or "resize" in bad.stderr

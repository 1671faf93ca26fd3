"""`imgprep run --shard K/N` parts and `imgprep merge OUT`: the merged dataset holds, row for row
and byte for byte, what one run over all the inputs writes (read back with numpy and the
loader), and the merge refuses parts that are missing, incomplete, given twice or made with
other settings or inputs."""

import fcntl
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset
import yaml

import imgprep
from conftest import (IMGPREP, REPO, manifest_rows, ok_tensors, run_imgprep,
                      sample_with_failures, without_location)

NPY = ["--preset", "imagenet", "--dtype", "uint8", "--resize", "shorter:40", "--crop",
       "center:32", "--shard-size", "4"]


def merge(out, expect=0):
    proc = subprocess.run([str(IMGPREP), "merge", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == expect, proc.stderr
    return proc


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The sample set with sample-bad's three failing files: 20 inputs."""
    return sample_with_failures(tmp_path_factory.mktemp("inputs") / "photos")


@pytest.fixture(scope="module")
def whole(inputs, tmp_path_factory):
    return run_imgprep(inputs, tmp_path_factory.mktemp("whole") / "out", *NPY, expect=1)


def run_parts(inputs, out, n, *args):
    for k in range(n):
        run_imgprep(inputs, out, *NPY, *args, "--shard", f"{k}/{n}", expect=None)
    return out


@pytest.mark.parametrize("n", [1, 3, 7])
def test_merged_parts_equal_one_run(inputs, whole, tmp_path, n):
    out = run_parts(inputs, tmp_path / "out", n) if n > 1 else None
    if n == 1:  # one part of one: --shard 0/1 writes OUT itself, there is nothing to merge
        out = run_imgprep(inputs, tmp_path / "out", *NPY, "--shard", "0/1", expect=1).out
        assert not list(out.glob("part-*"))
    else:
        assert sorted(p.name for p in out.glob("part-*")) == \
            [f"part-{k:05d}-of-{n:05d}" for k in range(n)]
        assert "merged 3 parts" in merge(out).stdout if n == 3 else merge(out)
    assert without_location(manifest_rows(out)) == without_location(whole.manifest)
    mine, theirs = ok_tensors(out), ok_tensors(whole.out)
    assert len(mine) == len(theirs) == 17
    for (path, a, label), (path_w, b, label_w) in zip(mine, theirs):
        assert path == path_w and label == label_w
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), path
    meta, meta_w = json.loads((out / "meta.json").read_text()), whole.meta
    assert meta["identity"] == meta_w["identity"]
    for key in ("complete", "inputs", "failed", "skipped", "has_labels"):
        assert meta[key] == meta_w[key], key
    assert (out / "classes.json").read_text() == (whole.out / "classes.json").read_text()


def test_index_lists_every_shard_and_links_the_parts_files(inputs, tmp_path):
    out = run_parts(inputs, tmp_path / "out", 3)
    merge(out)
    index = json.loads((out / "index.json").read_text())
    first_row = 0
    for g, shard in enumerate(index["shards"]):
        assert shard["file"] == f"shard-{g:05d}.npy" and shard["labels"] == f"labels-{g:05d}.npy"
        array = np.load(out / shard["file"])
        assert len(array) == shard["rows"] and shard["first_row"] == first_row
        first_row += shard["rows"]
        # A hard link to the part's shard: no bytes copied.
        assert os.stat(out / shard["file"]).st_ino == os.stat(out / shard["from"]).st_ino
    assert index["rows"] == first_row == 17 and index["inputs"] == 20
    assert [p["inputs"] for p in index["parts"]] == [6, 7, 7]
    assert sum(p["failed"] for p in index["parts"]) == 3


def test_merging_again_gives_the_same_files_and_leaves_the_parts(inputs, tmp_path):
    out = run_parts(inputs, tmp_path / "out", 2)
    before = {p: p.read_bytes() for p in out.glob("part-*/*") if p.is_file()}
    merge(out)
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    merge(out)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == first
    assert {p: p.read_bytes() for p in out.glob("part-*/*") if p.is_file()} == before


def test_loader_reads_the_merged_dataset_as_one_runs(inputs, whole, tmp_path):
    out = run_parts(inputs, tmp_path / "out", 3)
    merge(out)
    config = imgprep.Config(preset="imagenet", dtype="uint8")
    batches = [list(imgprep.Loader(source, config, batch_size=5, shuffle=True, seed=3))
               for source in (out, whole.out)]
    assert len(batches[0]) == len(batches[1]) == 4
    for (a, la), (b, lb) in zip(*batches):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
        assert np.asarray(la).tolist() == np.asarray(lb).tolist()


def test_image_parts_merge_into_the_tree_one_run_writes(inputs, tmp_path):
    args = ["--format", "images", "--resize", "longer:48", "--image-format", "png"]
    one = run_imgprep(inputs, tmp_path / "one", *args, expect=1)
    out = tmp_path / "out"
    for k in range(3):
        run_imgprep(inputs, out, *args, "--shard", f"{k}/3", expect=None)
    merge(out)
    assert manifest_rows(out) == one.manifest
    for r in one.manifest:
        if r["status"] == "ok":
            assert (out / r["output"]).read_bytes() == (one.out / r["output"]).read_bytes()


def test_python_merge_is_the_command(inputs, whole, tmp_path):
    out = tmp_path / "out"
    config = imgprep.Config(preset="imagenet", dtype="uint8", resize="shorter:40",
                            crop="center:32", shard_size=4)
    for k in range(2):
        part = imgprep.run(inputs, out, config, shard=f"{k}/2", quiet=True)
        assert Path(part["manifest"]).parent == out / f"part-{k:05d}-of-00002"
    plan = imgprep.plan(inputs, out, config, shard="1/2")
    assert (plan["inputs"], plan["first_input"], plan["all_inputs"]) == (10, 10, 20)
    assert plan["out"] == str(out / "part-00001-of-00002")
    assert plan["fingerprint"] == whole.meta["identity"]["inputs"]["fingerprint"]
    summary = imgprep.merge(out)
    assert (summary["parts"], summary["inputs"], summary["failed"]) == (2, 20, 3)
    assert [t[1].tobytes() for t in ok_tensors(out)] == [t[1].tobytes() for t in ok_tensors(whole.out)]
    (out / "part-00001-of-00002" / "meta.json").unlink()
    with pytest.raises(ValueError, match="part 1 of 2 .* has no meta.json"):
        imgprep.merge(out)


# ---- refusals: each names the problem, and OUT's merged files are left alone ----

def refused(out, message):
    proc = merge(out, expect=2)
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.startswith("imgprep: merge: ")


@pytest.fixture
def parts(inputs, tmp_path):
    return run_parts(inputs, tmp_path / "out", 3)


def test_refuses_a_missing_part(parts):
    shutil.rmtree(parts / "part-00001-of-00003")
    refused(parts, "1 of the 3 parts are missing: 1 (run `imgprep run ... --shard K/3` for each)")
    assert not (parts / "meta.json").exists()


def test_refuses_an_incomplete_part(inputs, parts):
    # A part whose run was killed: its meta.json says incomplete.
    meta_file = parts / "part-00002-of-00003" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["complete"] = False
    meta_file.write_text(json.dumps(meta))
    refused(parts, "part 2 of 3 (")
    refused(parts, ") is incomplete: its run was interrupted or is still running; run it again "
                   "with --resume")
    # Run again, the part is complete and the merge takes it.
    run_imgprep(inputs, parts, *NPY, "--shard", "2/3", expect=None)
    merge(parts)


def test_refuses_a_part_given_twice(parts):
    shutil.rmtree(parts / "part-00001-of-00003")
    shutil.copytree(parts / "part-00000-of-00003", parts / "part-00001-of-00003")
    refused(parts, "holds part 0 of 3 by its meta.json: a copied or renamed folder; part 0 is "
                   "given twice")


def test_refuses_a_part_with_other_settings(inputs, parts):
    shutil.rmtree(parts / "part-00001-of-00003")
    other = ["shorter:48" if a == "shorter:40" else a for a in NPY]
    run_imgprep(inputs, parts, *other, "--shard", "1/3", expect=None)
    refused(parts, "was made with --resize shorter:48, part 0 of 3")
    refused(parts, "with --resize shorter:40; every part needs the same settings")


def test_refuses_a_part_of_other_inputs(inputs, parts, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(inputs, other)
    (other / "animals" / "truncated.jpg").unlink()
    shutil.rmtree(parts / "part-00002-of-00003")
    run_imgprep(other, parts, *NPY, "--shard", "2/3", expect=None)
    refused(parts, "was made with INPUT")
    settings = json.loads((parts / "part-00002-of-00003" / "meta.json").read_text())
    settings["identity"]["settings"]["input"] = str(inputs)
    settings["config"]["input"] = str(inputs)
    (parts / "part-00002-of-00003" / "meta.json").write_text(json.dumps(settings))
    refused(parts, "was cut from other inputs than part 0 of 3")


def test_refuses_parts_of_two_splits(inputs, parts):
    run_imgprep(inputs, parts, *NPY, "--shard", "0/2", expect=None)
    refused(parts, "holds parts of different splits (into 2, 3 slices)")


def test_refuses_a_part_missing_a_shard(parts):
    (parts / "part-00001-of-00003" / "shard-00001.npy").unlink()
    refused(parts, "part 1 of 3")
    refused(parts, "its shard-00001.npy is missing")
    (parts / "part-00001-of-00003" / "manifest.jsonl").write_text("")
    refused(parts, "its manifest.jsonl has 0 rows for its 7 inputs")


def test_refuses_a_part_in_use(parts):
    lock = parts / "part-00000-of-00003" / ".imgprep.lock"
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write("4242\n")
        f.flush()
        refused(parts, "is in use by another imgprep run (pid 4242)")


def test_refuses_an_out_with_one_runs_output(inputs, parts):
    run_imgprep(inputs, parts, *NPY, expect=1)
    refused(parts, "holds the output of a run over OUT itself")


def test_refuses_an_out_without_parts(tmp_path):
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "holds no parts")
    proc = merge(tmp_path / "nowhere", expect=2)
    assert "is not a folder" in proc.stderr


def test_an_incomplete_merge_is_never_taken_for_a_dataset(parts):
    merge(parts)
    shutil.rmtree(parts / "part-00001-of-00003")
    refused(parts, "parts are missing")
    # The earlier merge's meta.json still describes the earlier merge's files.
    assert json.loads((parts / "meta.json").read_text())["complete"] is True


# ---- the README's Slurm array job and Kubernetes indexed Job, run as a loop over K ----

def readme_block(language, marker):
    """The README's fenced block in `language` that holds `marker`."""
    blocks, block, lang = [], None, None
    for line in (REPO / "README.md").read_text().splitlines(keepends=True):
        if line.startswith("```"):
            if block is None:
                block, lang = [], line[3:].strip()
            else:
                blocks.append((lang, "".join(block)))
                block = None
        elif block is not None:
            block.append(line)
    return next(text for lang, text in blocks if lang == language and marker in text)


def on_this_machine(text, inputs, out):
    return (text.replace("/data/photos", str(inputs)).replace("/data/out", str(out))
            .replace("imgprep run", f"{IMGPREP} run").replace("imgprep merge", f"{IMGPREP} merge"))


def merge_line():
    line = next(l for l in readme_block("", "sbatch --dependency").splitlines() if "--wrap" in l)
    return re.search(r'--wrap "(.*)"', line)[1]


def same_as_one_run(out, inputs, tmp_path):
    one = run_imgprep(inputs, tmp_path / "one", "--preset", "imagenet", expect=1)
    assert without_location(manifest_rows(out)) == without_location(one.manifest)
    assert [t[1].tobytes() for t in ok_tensors(out)] == [t[1].tobytes() for t in ok_tensors(one.out)]
    assert [t[2] for t in ok_tensors(out)] == [t[2] for t in ok_tensors(one.out)]


def test_readme_slurm_array_job(inputs, tmp_path):
    script = tmp_path / "parts.sh"
    script.write_text(on_this_machine(readme_block("bash", "#SBATCH"), inputs, tmp_path / "out"))
    count, requeued = 3, False
    for k in [2, 0, 1, 1]:  # any order; task 1 requeued after it completed: --resume
        env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(k), "SLURM_ARRAY_TASK_COUNT": str(count),
               "SLURM_CPUS_PER_TASK": "1"}
        proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        if k == 1 and "is already complete" in proc.stdout:
            requeued = True
    assert requeued
    merge = on_this_machine(merge_line(), inputs, tmp_path / "out")
    assert subprocess.run(merge, shell=True, capture_output=True).returncode == 0
    same_as_one_run(tmp_path / "out", inputs, tmp_path)


def test_readme_kubernetes_indexed_job(inputs, tmp_path):
    job = yaml.safe_load(readme_block("yaml", "completionMode: Indexed"))
    assert job["spec"]["completionMode"] == "Indexed"
    count = job["spec"]["completions"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["sh", "-c"]
    command = on_this_machine(container["args"][0], inputs, tmp_path / "out")
    for k in range(count):
        env = {**os.environ, "JOB_COMPLETION_INDEX": str(k)}
        proc = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
    assert len(list((tmp_path / "out").glob("part-*-of-00016"))) == 16
    merge = on_this_machine(merge_line(), inputs, tmp_path / "out")
    assert subprocess.run(merge, shell=True, capture_output=True).returncode == 0
    same_as_one_run(tmp_path / "out", inputs, tmp_path)


@pytest.mark.parametrize("fmt", ["wds", "wds-images"])
def test_webdataset_parts_merge_into_one_runs_samples(inputs, tmp_path, fmt):
    args = ["--format", fmt, "--resize", "shorter:40", "--crop", "center:32", "--shard-size", "4"]
    if fmt == "wds":
        args += ["--dtype", "uint8"]
    one = run_imgprep(inputs, tmp_path / "one", *args, expect=1)
    out = tmp_path / "out"
    for k in range(3):
        run_imgprep(inputs, out, *args, "--shard", f"{k}/3", expect=None)
    merge(out)
    assert [{k: v for k, v in r.items() if k != "shard"} for r in manifest_rows(out)] == \
        [{k: v for k, v in r.items() if k != "shard"} for r in one.manifest]

    def samples(folder):
        found = []
        for tar in sorted(Path(folder).glob("shard-*.tar")):
            for sample in webdataset.WebDataset(str(tar), shardshuffle=False, empty_check=False):
                found.append({k: v for k, v in sample.items() if k == "__key__" or not k.startswith("__")})
        return found

    mine, theirs = samples(out), samples(one.out)
    assert len(mine) == len(theirs) == 17
    assert mine == theirs
    # Each row's shard names the merged tar that holds its sample.
    for r in manifest_rows(out):
        if r["status"] == "ok":
            names = tarfile.open(out / f"shard-{r['shard']:05d}.tar").getnames()
            assert f"{r['key']}.json" in names
    # A part's tar cut short, or whose end blocks are overwritten, is refused by name.
    tar = out / "part-00002-of-00003" / "shard-00000.tar"
    whole_tar = tar.read_bytes()
    tar.unlink()  # a new file: the merged shard linked to this one keeps its bytes
    tar.write_bytes(whole_tar[:1000])
    refused(out, "part 2 of 3")
    refused(out, "its shard-00000.tar is 1000 bytes: not a whole tar")
    tar.unlink()
    tar.write_bytes(whole_tar[:-512] + b"x" * 512)
    refused(out, "its shard-00000.tar does not end as a tar ends")

"""What imgprep refuses before it touches OUT: every option value outside its range (exit 2, one
line on stderr naming the flag, nothing written), for `run` and `bench`; list files whose label
column cannot be read without guessing; and, with --resume, a meta.json that is not the one
imgprep wrote (a clear reason, never a JSON library's exception text)."""

import json
import shutil
import subprocess

import pytest

from conftest import IMGPREP, run_imgprep

BAD_RUN_VALUES = [
    ("--std", "nan"),
    ("--std", "inf"),
    ("--std", "0"),
    ("--std", "1,nan,1"),
    ("--std", "1e-45"),
    ("--mean", "inf"),
    ("--mean", "-inf"),
    ("--mean", "0.5,0.5,nan"),
    ("--scale", "nan"),
    ("--scale", "1e39"),
    ("--scale", "abc"),
    ("--max-pixels", "-1"),
    ("--max-pixels", "0"),
    ("--resize", "100000x100000"),
    ("--resize", "20000x20000"),
    ("--resize", "shorter:20000"),
    ("--resize", "letterbox:70000x10"),
    ("--resize", "0x10"),
    ("--crop", "center:70000"),
    ("--crop", "center:20000x20000"),
    ("--threads", "-1"),
    ("--threads", "100000"),
    ("--io-threads", "0"),
    ("--io-threads", "5000"),
    ("--workers", "-1"),
    ("--workers", "5000"),
    ("--in-flight", "-1"),
    ("--in-flight", "1000000"),
    ("--max-errors", "-5"),
    ("--batch", "0"),
    ("--batch", "70000"),
    ("--shard-size", "0"),
    ("--device", "-1"),
    ("--pad-value", "256"),
    ("--pad-value", "-1"),
    ("--quality", "0"),
    ("--quality", "101"),
    ("--timeout-per-image", "nan"),
    ("--timeout-per-image", "inf"),
    ("--timeout-per-image", "0"),
    ("--shard", "2/2"),
    ("--interp", "sinc"),
    ("--image-format", "gif"),
]


def assert_refused(proc, flag):
    """Exit 2 with one line on stderr that names the flag."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: "), proc.stderr
    assert flag in lines[0], lines[0]


@pytest.mark.parametrize("flag,value", BAD_RUN_VALUES)
def test_run_refuses_values_outside_their_range(tmp_path, sample_dir, flag, value):
    out = tmp_path / "out"
    extra = (["--format", "images"] if flag in ("--image-format", "--quality")
             else ["--cpu-engine", "procs"] if flag in ("--workers", "--timeout-per-image")
             else [])
    run = run_imgprep(sample_dir, out, "--preset", "imagenet", *extra, f"{flag}={value}",
                      expect=None, timeout=60)
    assert_refused(subprocess.CompletedProcess([], run.rc, run.stdout, run.stderr), flag)
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ["--threads", "0", "--in-flight", "0"],  # 0: all cores, automatic
    ["--cpu-engine", "procs", "--workers", "0"],
    ["--max-errors", "-1"],  # no limit
    ["--max-errors", "0", "--in-flight", "1", "--io-threads", "1", "--threads", "1"],
    ["--max-pixels", "9223372036854775807"],
])
def test_run_accepts_the_documented_special_values(tmp_path, sample_dir, args):
    run = run_imgprep(sample_dir, tmp_path / "out", "--preset", "imagenet", *args, timeout=120)
    assert len(run.manifest) == 17


@pytest.mark.parametrize("flag,value", [
    ("--repeat", "0"),
    ("--repeat", "1001"),
    ("--warmup", "-1"),
    ("--warmup", "1001"),
    ("--io-latency", "nan"),
    ("--io-latency", "inf"),
    ("--io-latency", "-1"),
    ("--std", "nan"),
    ("--threads", "100000"),
])
def test_bench_refuses_values_outside_their_range(tmp_path, sample_dir, flag, value):
    proc = subprocess.run([str(IMGPREP), "bench", str(sample_dir), "--preset", "imagenet",
                           "--tiers", "serial", f"{flag}={value}"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert_refused(proc, flag)
    assert list(tmp_path.iterdir()) == []


# ---- list files ----

def test_a_label_that_is_not_an_integer_is_refused_with_its_line(tmp_path, sample_dir):
    images = sorted(str(p) for p in sample_dir.rglob("*.jpg"))[:4]
    lines = [f"{images[0]},1", f"{images[1]},-1", f"{images[2]},3x", f"{images[3]},2"]
    listing = tmp_path / "list.csv"
    listing.write_text("\ufeffpath,label\r\n" + "".join(line + "\r\n" for line in lines))
    run = run_imgprep(listing, tmp_path / "out", "--preset", "imagenet", expect=2)
    assert "list.csv:4: label '3x' is not an integer" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()

    # Without the typo: integers as written, -1 for no label (null in the manifest).
    lines[2] = f"{images[2]},0"
    listing.write_text("\ufeffpath,label\r\n" + "".join(line + "\r\n" for line in lines))
    run = run_imgprep(listing, tmp_path / "out", "--preset", "imagenet")
    assert [row["label"] for row in run.manifest] == [1, None, 0, 2]
    assert run.labels().tolist() == [1, -1, 0, 2]
    assert not (run.out / "classes.json").exists()


# ---- --resume and meta.json ----

ARGS = ["--preset", "imagenet", "--shard-size", "8"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, sample_dir):
    out = tmp_path_factory.mktemp("finished") / "out"
    run_imgprep(sample_dir, out, *ARGS, "--no-exif")
    return out


def resume(sample_dir, out, *args):
    return run_imgprep(sample_dir, out, *ARGS, *args, "--resume", expect=None, timeout=60)


def edited(finished, tmp_path, edit):
    """A copy of the finished OUT whose meta.json `edit` changed (edit gets the parsed dict)."""
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    meta = json.loads((out / "meta.json").read_text())
    edit(meta)
    (out / "meta.json").write_text(json.dumps(meta))
    return out


def set_in(path, value):
    def edit(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def drop(path):
    def edit(meta):
        node = meta
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


@pytest.mark.parametrize("edit,words", [
    (set_in(["identity"], [1, 2]), '"identity"'),
    (set_in(["identity"], "x"), '"identity"'),
    (set_in(["identity", "settings"], "x"), '"settings"'),
    (set_in(["identity", "settings"], None), '"settings"'),
    (drop(["identity", "inputs"]), '"inputs"'),
    (set_in(["identity", "inputs"], []), '"inputs"'),
    (set_in(["identity", "inputs", "fingerprint"], 7), '"fingerprint"'),
    (set_in(["identity", "inputs", "count"], "17"), '"count"'),
    (drop(["identity", "settings", "quality"]), '"quality"'),
    (set_in(["identity", "settings", "shard_size"], "8"), '"shard_size"'),
    (set_in(["identity", "settings", "exif"], 0), '"exif"'),
    (set_in(["identity", "settings", "scale"], [1, 2]), '"scale"'),
    (set_in(["identity", "settings", "mean"], ["a", "b", "c"]), '"mean"'),
    (set_in(["complete"], "yes"), '"complete"'),
    (set_in(["failed"], None), '"failed"'),
    (set_in(["failed"], "none"), '"failed"'),
])
def test_resume_refuses_a_hand_edited_meta_json_saying_what_is_wrong(
        tmp_path, sample_dir, finished, edit, words):
    out = edited(finished, tmp_path, edit)
    run = resume(sample_dir, out, "--no-exif")
    assert run.rc == 2, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: --resume: "), run.stderr
    assert "meta.json" in lines[0] and words in lines[0], lines[0]
    assert "json.exception" not in run.stderr


@pytest.mark.parametrize("content", ["", "{", "[]", "null", '{"identity": 1}', "\x00\x01"])
def test_resume_refuses_a_meta_json_that_is_not_imgprep_s(tmp_path, sample_dir, finished, content):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    (out / "meta.json").write_text(content)
    run = resume(sample_dir, out, "--no-exif")
    assert run.rc == 2, run
    assert run.stderr.startswith("imgprep: --resume: ") and "meta.json" in run.stderr, run.stderr
    assert "json.exception" not in run.stderr


@pytest.mark.parametrize("args,expected", [
    (["--no-exif", "--max-pixels", "1000"], "--max-pixels 178956970, not 1000"),
    (["--no-exif", "--interp", "cubic"], "--interp linear, not cubic"),
    (["--no-exif", "--antialias", "off"], "--antialias on, not off"),
    (["--no-exif", "--std", "1"], "--std 0.229,0.224,0.225, not 1,1,1"),
    (["--no-exif", "--no-shrink-on-load"], "--shrink-on-load auto, not off"),
    ([], "made with --no-exif"),
])
def test_resume_names_a_changed_setting_by_its_flag(tmp_path, sample_dir, finished, args,
                                                    expected):
    out = edited(finished, tmp_path, lambda meta: None)
    run = resume(sample_dir, out, *args)
    assert run.rc == 2, run
    assert expected in run.stderr, run.stderr
    assert "_" not in run.stderr.split("--resume: ")[1].split(";")[0], run.stderr


def test_resume_of_a_finished_run_with_the_same_settings_is_complete(tmp_path, sample_dir,
                                                                    finished):
    out = edited(finished, tmp_path, lambda meta: None)
    run = resume(sample_dir, out, "--no-exif")
    assert run.rc == 0 and "already complete" in run.stdout, run

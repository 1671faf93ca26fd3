"""The command explains itself: grouped --help with defaults and examples, "did you mean" for a
mistyped option, and --dry-run, whose counts and size estimate a real run then bears out."""

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import IMGPREP, part_of, run_imgprep

SAMPLE_BAD = Path(__file__).resolve().parents[2] / "datasets" / "sample-bad"
MAGIC = [(b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"),
         (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"II*\0", "TIFF"), (b"MM\0*", "TIFF")]


def imgprep(*args):
    return subprocess.run([str(IMGPREP), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def sniff(path):
    head = Path(path).read_bytes()[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


# ---- --help ------------------------------------------------------------------------------

def test_run_help_is_grouped_with_defaults_and_examples():
    help_text = imgprep("run", "--help").stdout
    groups = re.findall(r"^(\w[\w ]*):$", help_text, re.M)
    assert groups == ["Positionals", "Options", "Inputs", "Output", "Geometry", "Values",
                      "Engines", "Run control", "Examples"], groups
    # Every option that takes a value says its default.
    for line in help_text.splitlines():
        if re.match(r"\s+-.*\s(TEXT|INT|FLOAT)\s", line) and "REQUIRED" not in line:
            assert "default" in line, line
    assert "imgprep run photos -o out --preset imagenet" in help_text
    assert "--dry-run" in help_text


def test_bench_help_shares_the_groups():
    help_text = imgprep("bench", "--help").stdout
    for group in ("Inputs:", "Geometry:", "Values:", "Output:", "Engines:", "Example:"):
        assert "\n" + group in help_text, group
    assert "--dry-run" not in help_text and "--output" not in help_text


# ---- messages ----------------------------------------------------------------------------

@pytest.mark.parametrize("command, typo, meant", [
    ("run", "--resise", "--resize"), ("run", "--qualty", "--quality"),
    ("run", "--dryrun", "--dry-run"), ("bench", "--tires", "--tiers")])
def test_a_mistyped_option_gets_did_you_mean(tmp_path, sample_dir, command, typo, meant):
    out = ["-o", tmp_path / "out"] if command == "run" else []
    proc = imgprep(command, sample_dir, *out, typo, "shorter:256")
    assert proc.returncode == 2
    assert proc.stderr == (f"imgprep: unknown option {typo}; did you mean {meant}? "
                           f"(see imgprep {command} --help)\n")
    assert not (tmp_path / "out").exists()


def test_an_unknown_option_far_from_all_is_named_alone(tmp_path, sample_dir):
    proc = imgprep("run", sample_dir, "-o", tmp_path / "out", "--max-errors", "-1", "--zzzzzz")
    assert proc.returncode == 2
    assert proc.stderr == "imgprep: unknown option --zzzzzz (see imgprep run --help)\n"
    # A one-letter option is no typo of another (-o is not -q).
    proc = imgprep("bench", sample_dir, "-o", tmp_path / "out")
    assert proc.stderr == "imgprep: unknown option -o (see imgprep bench --help)\n"


def test_a_bare_resize_number_names_torchvisions_spelling(tmp_path, sample_dir):
    proc = imgprep("run", sample_dir, "-o", tmp_path / "out", "--resize", "224")
    assert proc.returncode == 2
    assert proc.stderr == ("imgprep: --resize: expected shorter:S, longer:S, WxH or "
                           "letterbox:WxH, got '224' (torchvision's Resize(224) is "
                           "shorter:224)\n")


# ---- -q ----------------------------------------------------------------------------------

def test_quiet_prints_nothing_and_loud_ends_with_the_totals(imgprep_run, sample_dir):
    quiet = imgprep_run(sample_dir, "--preset", "imagenet", "--engine", "cpu")
    assert (quiet.stdout, quiet.stderr) == ("", "")
    loud = imgprep_run(sample_dir, "--preset", "imagenet", "--engine", "cpu", quiet=False)
    assert re.match(r"imgprep: engine cpu \(tbb: \d+ threads\)\n", loud.stdout), loud.stdout
    assert re.fullmatch(r"imgprep: 17/17 images, 0 failed in \d+:\d\d:\d\d \(\d+ images/s\)\n",
                        loud.stderr), loud.stderr


# ---- --dry-run ---------------------------------------------------------------------------

def dry_run(inp, out, *args, expect=0):
    proc = imgprep("run", inp, "-o", out, "--engine", "cpu", "--dry-run", *args)
    assert proc.returncode == expect, proc
    assert not Path(out).exists(), "--dry-run created OUT"
    return proc


def format_counts(text):
    m = re.search(r"^  (\d+) images?: (.*)$", text, re.M)
    assert m, text
    return int(m[1]), {name: int(n) for n, name in re.findall(r"(\d+) (\w+)", m[2])}


@pytest.fixture
def imgprep_run(tmp_path):
    counter = iter(range(1_000_000))
    return lambda inp, *args, **kw: run_imgprep(inp, tmp_path / f"out-{next(counter)}", *args,
                                                **kw)


def test_dry_run_counts_what_a_run_then_writes(tmp_path, imgprep_run, sample_dir):
    args = ["--preset", "imagenet", "--shard-size", 5]
    text = dry_run(sample_dir, tmp_path / "out", *args).stdout
    run = imgprep_run(sample_dir, *args, "--engine", "cpu")

    total, formats = format_counts(text)
    assert total == len(run.manifest) == 17
    assert formats == Counter(sniff(sample_dir / r["path"]) for r in run.manifest)
    # Classes with their labels, as classes.json and the manifest have them.
    classes = json.loads((run.out / "classes.json").read_text())
    per_class = {name: (int(label), int(n))
                 for label, name, n in re.findall(r"^    (\d+) (\S+): (\d+)$", text, re.M)}
    assert list(per_class) == classes
    rows = Counter(r["label"] for r in run.manifest)
    assert {label: n for label, n in per_class.values()} == rows
    assert f"skipped: {run.meta['skipped']} non-image file" in text
    # The files and their size on disk, exactly.
    shards = int(re.search(r"output: (\d+) shards? of up to 5 images with label files", text)[1])
    assert shards == len(run.shard_files()) == len(run.label_files())
    estimate = int(re.search(r"size on disk: [\d.]+ MiB \((\d+) bytes\)", text)[1])
    assert estimate == sum(p.stat().st_size for p in run.shard_files() + run.label_files())


def test_dry_run_of_a_shard_slice(tmp_path, imgprep_run, sample_dir):
    args = ["--preset", "imagenet", "--shard", "1/3"]
    text = dry_run(sample_dir, tmp_path / "out", *args).stdout
    run = part_of(imgprep_run(sample_dir, *args, "--engine", "cpu"), 1, 3)
    m = re.search(r"--shard 1/3: inputs (\d+)\.\.(\d+) of the (\d+), into the part folder "
                  r"(\S+) \(imgprep merge (\S+) joins the parts\)", text)
    assert m and (int(m[1]), int(m[2]), int(m[3])) == (5, 5 + len(run.manifest), 17), text
    assert (m[4], m[5]) == (str(tmp_path / "out" / "part-00001-of-00003"), str(tmp_path / "out"))
    assert format_counts(text)[0] == len(run.manifest)


def test_dry_run_names_what_a_run_will_fail(tmp_path, imgprep_run):
    text = dry_run(SAMPLE_BAD, tmp_path / "out", "--preset", "imagenet").stdout
    run = imgprep_run(SAMPLE_BAD, "--preset", "imagenet", "--engine", "cpu", expect=1)
    not_images = [r["path"] for r in run.manifest if sniff(SAMPLE_BAD / r["path"]) is None]
    assert not_images and set(not_images) <= set(run.failed())
    assert f"  {len(not_images)} of them not an image by content" in text, text
    assert "no labels" in text
    assert f"skipped: {run.meta['skipped']} non-image file" in text


def test_dry_run_of_images_does_not_guess_their_size(tmp_path, sample_dir):
    text = dry_run(sample_dir, tmp_path / "out", "--format", "images", "--resize",
                   "shorter:64").stdout
    assert "output: 17 jpg files" in text
    assert "size on disk: not estimated" in text


@pytest.mark.parametrize("bad", [["--resize", "224"], ["--format", "npy"],
                                 ["--preset", "imagenet", "--engine", "tpu"]])
def test_dry_run_refuses_what_a_run_refuses(tmp_path, sample_dir, bad):
    proc = dry_run(sample_dir, tmp_path / "out", *bad, expect=2)
    assert proc.stdout == "" and proc.stderr.startswith("imgprep: "), proc

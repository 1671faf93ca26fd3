"""Labels fixed by --classes (a validation set with only some classes keeps the training set's
numbering), shrink-only resizing (--no-upscale, or '>' after the --resize size), an INPUT with
no images, and options given for an output or engine that does not use them. Outputs are read
back with numpy and Pillow and compared with references built here."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import max_diff, part_of, run_imgprep

RNG = np.random.default_rng(7)


def png(path, width, height):
    """A PNG of random pixels; returns its pixels (H, W, 3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def assert_refused(run, text):
    """Exit 2, one line on stderr holding text, nothing written."""
    assert run.rc == 2, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: "), run.stderr
    assert text in lines[0], lines[0]
    assert not run.out.exists()


# ---- --classes ----

@pytest.fixture
def train_and_val(tmp_path):
    """train/{cat,dog,fish} and val/dog, val/fish: val alone would number dog 0."""
    for name in ("cat", "dog", "fish"):
        png(tmp_path / "train" / name / "1.png", 8, 8)
    png(tmp_path / "val" / "dog" / "1.png", 8, 8)
    png(tmp_path / "val" / "dog" / "2.png", 8, 8)
    png(tmp_path / "val" / "fish" / "1.png", 8, 8)
    return tmp_path / "train", tmp_path / "val"


NPY = ["--resize", "8x8", "--dtype", "uint8"]


def test_val_labels_follow_the_classes_json_of_the_train_run(tmp_path, train_and_val):
    train, val = train_and_val
    train_run = run_imgprep(train, tmp_path / "train-out", *NPY)
    classes_json = train_run.out / "classes.json"
    assert json.loads(classes_json.read_text()) == ["cat", "dog", "fish"]

    alone = run_imgprep(val, tmp_path / "val-alone", *NPY)
    assert alone.labels().tolist() == [0, 0, 1]  # the trap --classes avoids

    run = run_imgprep(val, tmp_path / "val-out", *NPY, "--classes", classes_json)
    assert [r["path"] for r in run.manifest] == ["dog/1.png", "dog/2.png", "fish/1.png"]
    assert run.labels().tolist() == [1, 1, 2]
    assert json.loads((run.out / "classes.json").read_text()) == ["cat", "dog", "fish"]
    assert run.meta["config"]["classes"] == str(classes_json)

    # Each --shard slice keeps the whole list's labels.
    labels = [part_of(run_imgprep(val, tmp_path / "val-out", *NPY, "--classes", classes_json,
                                  "--shard", f"{k}/2"), k, 2).labels().tolist() for k in range(2)]
    assert labels == [[1], [1, 2]]


def test_a_text_classes_file_numbers_class_name_labels_of_a_list(tmp_path):
    for name in ("a", "b"):
        png(tmp_path / "imgs" / f"{name}.png", 8, 8)
    listing = tmp_path / "list.csv"
    listing.write_text("path,label\nimgs/a.png,zebra\nimgs/b.png,ant\n")
    names = tmp_path / "names.txt"
    names.write_bytes("\ufeffzebra\r\n\r\nyak\r\nant\r\n".encode())
    run = run_imgprep(listing, tmp_path / "out", *NPY, "--classes", names)
    assert run.labels().tolist() == [0, 2]
    assert json.loads((run.out / "classes.json").read_text()) == ["zebra", "yak", "ant"]


def test_a_class_missing_from_classes_refuses_the_run(tmp_path, train_and_val):
    _, val = train_and_val
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    run = run_imgprep(val, tmp_path / "out", *NPY, "--classes", names, expect=None)
    assert_refused(run, f"1 class is not in --classes {names}: 'fish'")


def test_integer_labels_with_classes_are_refused(tmp_path):
    png(tmp_path / "a.png", 8, 8)
    listing = tmp_path / "list.csv"
    listing.write_text("a.png,3\n")
    names = tmp_path / "names.txt"
    names.write_text("cat\n")
    run = run_imgprep(listing, tmp_path / "out", *NPY, "--classes", names, expect=None)
    assert_refused(run, "list.csv:1: label '3' is an integer; --classes")


def test_resume_refuses_another_classes_file(tmp_path, train_and_val):
    _, val = train_and_val
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text("dog\nfish\n")
    second.write_text("fish\ndog\n")
    out = tmp_path / "out"
    run_imgprep(val, out, *NPY, "--classes", first)
    meta = json.loads((out / "meta.json").read_text())
    meta["complete"] = False
    (out / "meta.json").write_text(json.dumps(meta))
    run = run_imgprep(val, out, *NPY, "--classes", second, "--resume", expect=2)
    assert f"--resume: OUT was made with --classes {first}, not {second}" in run.stderr


# ---- --no-upscale ----

@pytest.fixture
def small_and_large(tmp_path):
    """A 40x30 image (smaller than every target below) and a 200x100 one."""
    small = png(tmp_path / "in" / "small.png", 40, 30)
    large = png(tmp_path / "in" / "large.png", 200, 100)
    return tmp_path / "in", small, large


def written(run, name):
    with Image.open(run.out / run.row(name)["output"]) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("args", [["--resize", "shorter:64>"],
                                  ["--resize", "shorter:64", "--no-upscale"]])
def test_shorter_side_only_shrinks(tmp_path, small_and_large, args):
    folder, small, large = small_and_large
    run = run_imgprep(folder, tmp_path / "out", *args, "--format", "images",
                      "--image-format", "png")
    assert max_diff(written(run, "small.png"), small) == 0  # kept as it is
    expected = Image.fromarray(large).resize((128, 64), Image.BILINEAR)
    assert max_diff(written(run, "large.png"), np.asarray(expected)) <= 1
    assert run.meta["config"]["resize"] == "shorter:64>"


def test_longer_and_stretch_never_enlarge_a_side(tmp_path, small_and_large):
    folder, small, large = small_and_large
    longer = run_imgprep(folder, tmp_path / "longer", "--resize", "longer:100>",
                         "--format", "images", "--image-format", "png")
    assert max_diff(written(longer, "small.png"), small) == 0
    assert written(longer, "large.png").shape == (50, 100, 3)
    stretch = run_imgprep(folder, tmp_path / "stretch", "--resize", "64x64>",
                          "--format", "images", "--image-format", "png")
    assert max_diff(written(stretch, "small.png"), small) == 0
    expected = Image.fromarray(large).resize((64, 64), Image.BILINEAR)
    assert max_diff(written(stretch, "large.png"), np.asarray(expected)) <= 1


def test_npy_crop_pads_an_image_it_did_not_enlarge(tmp_path, small_and_large):
    folder, small, _ = small_and_large
    run = run_imgprep(folder, tmp_path / "out", "--resize", "shorter:64>", "--crop", "center:48",
                      "--pad-value", 7, "--dtype", "uint8", "--layout", "nhwc")
    expected = np.full((48, 48, 3), 7, np.uint8)
    expected[9:39, 4:44] = small  # torchvision CenterCrop padding: (48 - 30) // 2, (48 - 40) // 2
    assert max_diff(run.output("small.png"), expected) == 0
    assert run.output("large.png").shape == (48, 48, 3)


def test_npy_letterbox_centres_an_image_it_did_not_enlarge(tmp_path, small_and_large):
    folder, small, large = small_and_large
    run = run_imgprep(folder, tmp_path / "out", "--resize", "letterbox:64x48>", "--pad-value", 114,
                      "--dtype", "uint8", "--layout", "nhwc", "--antialias", "off")
    expected = np.full((48, 64, 3), 114, np.uint8)
    expected[9:39, 12:52] = small  # Ultralytics: round(24 / 2 - 0.1), round(18 / 2 - 0.1)
    assert max_diff(run.output("small.png"), expected) == 0
    # The large one is shrunk into the canvas as without '>': 64x32, 8 rows of padding above.
    out = run.output("large.png")
    assert (out[:8] == 114).all() and (out[40:] == 114).all() and not (out[8:40] == 114).all()


@pytest.mark.parametrize("args,reason", [
    (["--resize", "64x64>"], "npy shards need one output size"),
    (["--no-upscale", "--crop", "center:8"], "--no-upscale needs a --resize"),
])
def test_shrink_only_without_a_fixed_size_is_refused(tmp_path, small_and_large, args, reason):
    folder, _, _ = small_and_large
    assert_refused(run_imgprep(folder, tmp_path / "out", *args, expect=None), reason)


# ---- INPUT without images ----

@pytest.mark.parametrize("kind", ["empty folder", "no image files", "list of comments"])
def test_an_input_without_images_is_refused(tmp_path, kind):
    inp = tmp_path / "in"
    if kind == "list of comments":
        inp = tmp_path / "list.txt"
        inp.write_text("# nothing yet\n\n")
    else:
        (inp / "sub").mkdir(parents=True)
        if kind == "no image files":
            (inp / "sub" / "notes.txt").write_text("text")
    run = run_imgprep(inp, tmp_path / "out", "--preset", "imagenet", expect=None)
    assert_refused(run, f"no images in {inp}")


def test_an_empty_shard_slice_is_a_complete_run(tmp_path):
    png(tmp_path / "in" / "a.png", 8, 8)
    run = part_of(run_imgprep(tmp_path / "in", tmp_path / "out", *NPY, "--shard", "0/2"), 0, 2)
    assert run.meta["complete"] is True and run.meta["inputs"] == 0
    assert run.manifest == []


# ---- options the chosen output or engine does not use ----

INAPPLICABLE = [
    (["--format", "images", "--mean", "0.5"], "--mean does not apply to --format images"),
    (["--format", "images", "--std", "2"], "--std does not apply to --format images"),
    (["--format", "images", "--scale", "1"], "--scale does not apply to --format images"),
    (["--format", "images", "--dtype", "uint8"], "--dtype does not apply to --format images"),
    (["--format", "images", "--layout", "nhwc"], "--layout does not apply to --format images"),
    (["--format", "images", "--channels", "bgr"],
     "--channels does not apply to --format images"),
    (["--format", "images", "--shard-size", "10"],
     "--shard-size does not apply to --format images"),
    (["--image-format", "png"], "--image-format does not apply to --format npy"),
    (["--quality", "80"], "--quality does not apply to --format npy"),
    (["--resize", "8x8", "--pad-value", "3"],
     "--pad-value does not apply without --resize letterbox:WxH or --crop"),
    (["--workers", "2"], "--workers does not apply without --cpu-engine procs"),
    (["--timeout-per-image", "5"], "--timeout-per-image does not apply without --cpu-engine procs"),
    (["--engine", "cpu", "--batch", "8"], "--batch does not apply to --engine cpu"),
    (["--engine", "cpu", "--device", "0"], "--device does not apply to --engine cpu"),
]


@pytest.mark.parametrize("args,message", INAPPLICABLE, ids=[m.split()[0] for _, m in INAPPLICABLE])
def test_an_option_the_run_would_ignore_is_refused(tmp_path, args, message):
    png(tmp_path / "in" / "a.png", 8, 8)
    base = [] if "--resize" in args else ["--resize", "8x8"]
    run = run_imgprep(tmp_path / "in", tmp_path / "out", *base, *args, expect=None)
    assert_refused(run, message)


@pytest.mark.parametrize("preset", ["imagenet", "clip", "yolo"])
def test_presets_write_image_files(tmp_path, preset):
    """A preset's mean, std and pad value are not options given: --format images takes them."""
    png(tmp_path / "in" / "a.png", 300, 200)
    run = run_imgprep(tmp_path / "in", tmp_path / "out", "--preset", preset,
                      "--format", "images", "--image-format", "png")
    size = (640, 640) if preset == "yolo" else (224, 224)
    assert written(run, "a.png").shape == (*size[::-1], 3)


def test_options_that_apply_are_accepted(tmp_path):
    png(tmp_path / "in" / "a.png", 30, 20)
    run = run_imgprep(tmp_path / "in", tmp_path / "out", "--resize", "letterbox:16x16",
                      "--pad-value", 5, "--cpu-engine", "procs", "--workers", 1,
                      "--timeout-per-image", 60, "--engine", "cpu", "--dtype", "uint8",
                      "--layout", "nhwc")
    out = run.output("a.png")
    assert out.shape == (16, 16, 3) and (out[0] == 5).all()

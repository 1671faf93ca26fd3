"""--engine: auto says in one line which engine ran, cpu always works, and gpu without a usable
GPU (or in a build without CUDA) exits 2 with the reason."""

import re

import pytest

ENGINE_LINE = re.compile(r"^imgprep: engine (cpu|gpu)\b.*$", re.M)


def engine_of(run):
    lines = ENGINE_LINE.findall(run.stdout)
    assert len(lines) == 1, run.stdout
    return lines[0]


def test_auto_names_the_engine_in_one_line(imgprep, sample_dir):
    run = imgprep(sample_dir, "--preset", "imagenet", quiet=False)
    assert engine_of(run) in ("cpu", "gpu")
    assert run.meta["engine"].startswith("engine " + engine_of(run))


def test_cpu_engine_is_the_tbb_engine(imgprep, sample_dir):
    auto_cpu = imgprep(sample_dir, "--preset", "imagenet", "--engine", "cpu", quiet=False)
    assert engine_of(auto_cpu) == "cpu"
    assert auto_cpu.meta["engine"].startswith("engine cpu (tbb")
    assert auto_cpu.array().shape == (17, 3, 224, 224)


def test_gpu_engine_without_a_gpu_exits_2_with_the_reason(imgprep, sample_dir):
    if engine_of(imgprep(sample_dir, "--preset", "imagenet", quiet=False)) == "gpu":
        pytest.skip("a GPU is usable here; test_gpu_parity covers the GPU engine")
    run = imgprep(sample_dir, "--preset", "imagenet", "--engine", "gpu", expect=2)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imgprep: --engine gpu: "), run.stderr
    assert any(reason in lines[0] for reason in ("driver", "no CUDA device", "no CUDA tier")), lines[0]
    assert not (run.out / "manifest.jsonl").exists()


@pytest.mark.parametrize("bad", [["--batch", "0"], ["--device", "-1"], ["--engine", "tpu"]])
def test_bad_engine_options_exit_2(imgprep, sample_dir, bad):
    run = imgprep(sample_dir, "--preset", "imagenet", *bad, expect=2)
    assert run.stderr.startswith("imgprep: ")

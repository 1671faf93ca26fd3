"""`cmake --install`: the installed command finds its codecs plugin in PREFIX/lib/imgprep from
its own real path, so the prefix works wherever it is copied and from any working folder; it
links only system libraries and carries no RPATH. Without the plugin, a run that needs it ends
with one error before it starts."""

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from conftest import IMGPREP, SAMPLE, files_under, run_imgprep

BUILD = IMGPREP.resolve().parents[1]  # BUILD/bin/imgprep
PLUGIN = "libimgprep_opencv_codecs.so"
INSTALLED = ["bin/imgprep", f"lib/imgprep/{PLUGIN}", "share/doc/imgprep/README.md"]


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    cmake = shutil.which("cmake")
    if not cmake or not (BUILD / "cmake_install.cmake").is_file():
        pytest.skip(f"no cmake, or {BUILD} is not a CMake build folder")
    where = tmp_path_factory.mktemp("install") / "prefix"
    subprocess.run([cmake, "--install", str(BUILD), "--prefix", str(where)], check=True,
                   capture_output=True)
    return where


def test_installs_the_command_its_plugin_and_docs_only(prefix):
    assert files_under(prefix) == sorted(INSTALLED)  # no test or benchmark programs


def test_installed_files_have_no_rpath_and_link_system_libraries(prefix):
    readelf = shutil.which("readelf")
    if not readelf:
        pytest.skip("no readelf")
    for name in ("bin/imgprep", f"lib/imgprep/{PLUGIN}"):
        dynamic = subprocess.run([readelf, "-d", str(prefix / name)], check=True,
                                 capture_output=True, text=True).stdout
        assert "RPATH" not in dynamic and "RUNPATH" not in dynamic, name
    libraries = subprocess.run(["ldd", str(prefix / "bin/imgprep")], check=True,
                               capture_output=True, text=True).stdout
    for line in libraries.splitlines():
        assert "not found" not in line, line
        if "=>" in line and "vdso" not in line:
            path = line.split("=>")[1].split()[0]
            assert path.startswith(("/lib", "/usr/lib")), line


def test_a_copied_prefix_runs_from_another_folder(prefix, tmp_path):
    copy = tmp_path / "elsewhere" / "imgprep"
    shutil.copytree(prefix, copy, symlinks=True)
    run = run_imgprep(SAMPLE, tmp_path / "out", "--format", "images", "--resize", "shorter:64",
                      binary=copy / "bin/imgprep", cwd=tmp_path)
    rows = run.manifest
    assert rows and all(r["status"] == "ok" for r in rows)
    for row in rows:
        with Image.open(run.out / row["output"]) as im:
            assert min(im.size) == 64, row


@pytest.fixture
def lone(prefix, tmp_path):
    """The installed command copied alone, without its plugin."""
    folder = tmp_path / "lone" / "bin"
    folder.mkdir(parents=True)
    shutil.copy(prefix / "bin/imgprep", folder)
    return folder / "imgprep"


def assert_plugin_error(run, lone):
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(
        f"imgprep: cannot load the OpenCV codecs plugin {PLUGIN} (looked in "
        f"{lone.parents[1] / 'lib/imgprep'}, {lone.parent}, then the loader's search path): "), lines
    assert "No such file" in lines[0]
    assert not run.out.exists()  # nothing was started


def test_without_the_plugin_image_outputs_fail_at_the_start(lone, tmp_path):
    run = run_imgprep(SAMPLE, tmp_path / "out", "--format", "images", binary=lone, expect=2)
    assert_plugin_error(run, lone)


def test_without_the_plugin_bmp_inputs_fail_at_the_start(lone, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "a.png")
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "b.BMP")
    run = run_imgprep(folder, tmp_path / "out", "--resize", "4x4", binary=lone, expect=2)
    assert_plugin_error(run, lone)


def test_without_the_plugin_jpeg_and_png_to_npy_runs(lone, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "a.png")
    Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / "b.jpg")
    run = run_imgprep(folder, tmp_path / "out", "--resize", "4x4", binary=lone)
    assert [r["status"] for r in run.manifest] == ["ok", "ok"]

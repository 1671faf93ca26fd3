"""`pip install .` of the repository: a wheel built by scikit-build-core from pyproject.toml,
installed into a fresh virtual environment with no network, then used from outside the
repository. Its outputs are byte-identical to the command's.

Run by the interpreter of the project's virtual environment, which has the build requirements
(nanobind, scikit-build-core); the wheel is built without build isolation, so no download.
"""

import subprocess
import sys
import textwrap
import venv

from conftest import REPO, run_imgprep


def test_wheel_installs_and_runs_like_the_command(tmp_path, sample_dir):
    wheels = tmp_path / "wheels"
    # Without the CUDA tier, which the main build's tests cover: it only lengthens this build.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                    "--disable-pip-version-check", "--config-settings=cmake.define.IMGPREP_CUDA=OFF",
                    "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=3000)
    wheel = next(wheels.glob("imgprep-*.whl"))

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--no-deps",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True)

    out = tmp_path / "installed-out"
    script = textwrap.dedent(f"""
        import pathlib, imgprep
        assert "site-packages" in imgprep.__file__, imgprep.__file__
        summary = imgprep.run({str(sample_dir)!r}, {str(out)!r},
                              imgprep.Config(preset="imagenet"), engine="cpu",
                              cpu_engine="procs", workers=2, quiet=True)
        assert summary["processed"] == 17, summary
        images, status = imgprep.process(sorted(pathlib.Path({str(sample_dir)!r}).rglob("*.bmp")),
                                         imgprep.Config(preset="imagenet"))
        assert status == [None], status
        print("ok")
    """)
    # From outside the repository and without its build tree on the path.
    proc = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr

    # The console entry is installed; without Ray in the environment it says how to get it.
    ray_entry = env_dir / "bin" / "imgprep-ray"
    assert ray_entry.is_file()
    proc = subprocess.run([str(ray_entry), "--help"], cwd=tmp_path, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode != 0 and "pip install 'imgprep[ray]'" in proc.stderr, proc.stderr

    command = run_imgprep(sample_dir, tmp_path / "command-out", "--preset", "imagenet",
                          "--engine", "cpu")
    for name in ("shard-00000.npy", "labels-00000.npy", "manifest.jsonl"):
        assert (out / name).read_bytes() == (command.out / name).read_bytes(), name

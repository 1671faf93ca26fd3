#!/usr/bin/env bash
# Installs the Debian 12 packages imgprep needs, and only those that are missing.
# Usage: scripts/setup.sh [build|test|bench]   (default build; test and bench add Python tools)
# Runs apt-get as root, or through sudo for other users. test (and bench) also make .venv, the
# Python package's virtual environment: Debian's python3 with --system-site-packages (so Debian's
# numpy and torch stay visible) plus pip's nanobind and scikit-build-core, with the package of
# the build tree (build/python) on its path, and nvJPEG's wheel (nvidia-nvjpeg: nvjpeg.h for the
# build's GPU JPEG decoding, libnvjpeg.so.13 loaded at run time); and .venv-numpy2 (numpy 2 from pip, no torch), where
# the tests use the package too. bench also makes bench/.venv (Debian's
# python3 with --system-site-packages, plus pip's nvidia-dali-cuda130 for bench/peers/dali_cpu.py)
# when it is missing; a pip failure there only prints a message (the DALI peer then reports
# itself unavailable).
set -euo pipefail

build=(build-essential cmake pkg-config libopencv-dev libtbb-dev libjpeg62-turbo-dev
       libturbojpeg0-dev libpng-dev libexif-dev libcli11-dev nlohmann-json3-dev libgtest-dev)
test=(python3 python3-dev python3-venv python3-numpy python3-pil python3-opencv python3-pytest
      python3-torchvision
      python3-jsonschema python3-tifffile clang libclang-rt-14-dev valgrind libjxl-testdata)
bench=(time libvips-tools imagemagick python3-torch python3-venv)

case "${1:-build}" in
  build) wanted=("${build[@]}") ;;
  test) wanted=("${build[@]}" "${test[@]}") ;;
  bench) wanted=("${build[@]}" "${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The Python package's virtual environment, only when it is missing or lacks a build tool.
if [ "${1:-build}" != build ]; then
  venv="$root/.venv"
  if ! "$venv/bin/python" -c 'import nanobind, scikit_build_core' >/dev/null 2>&1; then
    echo "setup: making $venv with nanobind and scikit-build-core (pip)"
    [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "nanobind>=2.0" "scikit-build-core>=0.10"
  fi
  # nvJPEG of CUDA 13.0 (runs on a 13.0 driver and later): its header for the build, and the
  # library the GPU engine loads when it decodes JPEGs (--decode gpu).
  nvjpeg_version=13.0.4.44
  # (pip's output is read whole first: grep -q stopping early would fail the pipe under pipefail.)
  nvjpeg_now=$("$venv/bin/python" -m pip show nvidia-nvjpeg 2>/dev/null || true)
  if ! grep -qx "Version: $nvjpeg_version" <<<"$nvjpeg_now"; then
    echo "setup: installing nvidia-nvjpeg $nvjpeg_version into $venv (pip)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      "nvidia-nvjpeg==$nvjpeg_version"
  fi
  # Ray (imgprep.ray runs parts on a cluster; Ray Data for map_batches) and webdataset (reads
  # --format wds back in the tests). Debian's numpy 1 stays (Debian's torch is built on it), so
  # pyarrow and pandas are held at the last releases that support numpy 1.
  if ! "$venv/bin/python" -c 'import ray, ray.data, webdataset' >/dev/null 2>&1; then
    echo "setup: installing ray[data] and webdataset into $venv (pip)"
    numpy_now=$("$venv/bin/python" -c 'import numpy; print(numpy.__version__)')
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      "ray[data]>=2.40" "webdataset>=0.2.90" "numpy==$numpy_now" "pyarrow<19" "pandas<2.3"
  fi
  # `import imgprep` in the venv finds the package the build lays out in build/python.
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$root/build/python" >"$site/imgprep-build-tree.pth"
  # A second environment with numpy 2 and no torch, where the package must work as well.
  venv2="$root/.venv-numpy2"
  if ! "$venv2/bin/python" -c 'import numpy; assert int(numpy.__version__.split(".")[0]) >= 2' \
      >/dev/null 2>&1; then
    echo "setup: making $venv2 with numpy 2 (pip)"
    [ -x "$venv2/bin/python" ] || /usr/bin/python3 -m venv "$venv2"
    "$venv2/bin/python" -m pip install --quiet --disable-pip-version-check "numpy>=2"
  fi
fi

# The DALI peer's virtual environment, only when it is missing or lacks DALI.
if [ "${1:-build}" = bench ]; then
  venv="$root/bench/.venv"
  if ! "$venv/bin/python" -c 'import nvidia.dali' >/dev/null 2>&1; then
    echo "setup: making $venv with nvidia-dali-cuda130 (pip)"
    if ! { [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"; } ||
      ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check nvidia-dali-cuda130; then
      echo "setup: could not install nvidia-dali-cuda130 into $venv (see pip's message above);" \
        "bench/compare.sh will show the DALI peer as not run" >&2
    fi
  fi
fi

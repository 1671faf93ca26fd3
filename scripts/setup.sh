#!/usr/bin/env bash
# Installs the Debian 12 packages imgprep needs, and only those that are missing.
# Usage: scripts/setup.sh [build|test|bench]   (default build; test and bench add Python tools)
# Runs apt-get as root, or through sudo for other users.
set -euo pipefail

build=(build-essential cmake pkg-config libopencv-dev libtbb-dev libjpeg62-turbo-dev
       libturbojpeg0-dev libpng-dev libexif-dev libcli11-dev nlohmann-json3-dev libgtest-dev)
test=(python3 python3-numpy python3-pil python3-opencv python3-pytest python3-torchvision)
bench=(time libvips-tools imagemagick)

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
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
echo "setup: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

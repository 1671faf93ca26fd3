#!/usr/bin/env bash
# Whether two imgprep builds write the same bytes: runs both on each data set with each setting
# below and compares every output file with cmp (meta.json aside, which records the output folder
# and the command's own version). For refactors that must change no output byte.
#
#   bench/same_outputs.sh OLD_IMGPREP NEW_IMGPREP WORKDIR [DATASET...]
#
# DATASET defaults to datasets/sample and ../shared/datasets/{imagenet-1k,coco-256,large-photos}.
# Each binary loads its codecs plugin from its own folder. Prints one line per data set and
# setting; exits 1 if any file differs or is missing on one side.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 OLD_IMGPREP NEW_IMGPREP WORKDIR [DATASET...]" >&2; exit 2; }
old=$1 new=$2 work=$3
shift 3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=("$root/datasets/sample" "$root/../shared/datasets/imagenet-1k"
                                       "$root/../shared/datasets/coco-256"
                                       "$root/../shared/datasets/large-photos")
settings=(
  "--preset imagenet"
  "--preset clip"
  "--preset yolo"
  "--preset imagenet --dtype uint8 --layout nhwc --channels bgr --interp lanczos"
  "--resize shorter:160 --format images --image-format png"
)
status=0
for data in "${datasets[@]}"; do
  for setting in "${settings[@]}"; do
    tag=$(basename "$data")-$(echo "$setting" | tr -c 'a-z0-9' '_')
    for side in old new; do
      binary=$old
      [ $side = new ] && binary=$new
      rm -rf "$work/$side/$tag"
      # shellcheck disable=SC2086  # the setting is a list of options
      "$binary" run "$data" -o "$work/$side/$tag" $setting --engine cpu -q
    done
    files=$(cd "$work/old/$tag" && find . -type f ! -name meta.json | sort)
    if [ "$files" != "$(cd "$work/new/$tag" && find . -type f ! -name meta.json | sort)" ]; then
      echo "DIFFER $tag: the two runs wrote different file lists"
      status=1
      continue
    fi
    differing=0
    while IFS= read -r f; do
      cmp -s "$work/old/$tag/$f" "$work/new/$tag/$f" || { echo "  differs: $f"; differing=1; }
    done <<<"$files"
    count=$(echo "$files" | wc -l)
    if [ $differing = 0 ]; then echo "same   $tag ($count files)"; else echo "DIFFER $tag"; status=1; fi
  done
done
exit $status

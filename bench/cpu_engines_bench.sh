#!/usr/bin/env bash
# cpu_engines_bench.sh: the CPU engine's two ways of running, --cpu-engine tbb (threads) and
# procs (worker processes), on one folder of images: interleaved rounds, each run after a `sync`
# into a fresh output folder, images/s from the wall time of the whole command (worker start-up
# included). Prints every round and the medians. Build first; run on an otherwise idle machine.
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME and awk agree on the decimal point

usage() {
  cat <<EOF
usage: bench/cpu_engines_bench.sh [DATASET] [--repeat R] [--imgprep BIN] [-- RUN OPTIONS...]
  DATASET        folder of images (default: ../shared/datasets/imagenet-1k from the repo root)
  --repeat R     timed rounds, each running tbb then procs (default 5)
  --imgprep BIN  the imgprep executable (default: build/bin/imgprep)
  RUN OPTIONS    given to every run (default: --preset imagenet)
EOF
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo/bench/lib.sh"
dataset="$repo/../shared/datasets/imagenet-1k"
repeat=5
imgprep="$repo/build/bin/imgprep"
run_options=(--preset imagenet)
while (($# > 0)); do
  case "$1" in
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --imgprep) imgprep=${2:?--imgprep needs a value}; shift 2 ;;
    --) shift; run_options=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) dataset=$1; shift ;;
  esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "cpu_engines_bench.sh: --repeat must be a positive integer" >&2; exit 2; }
[[ -d $dataset ]] || { echo "cpu_engines_bench.sh: no folder $dataset" >&2; exit 2; }
[[ -x $imgprep ]] || { echo "cpu_engines_bench.sh: $imgprep missing; build first" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgprep-cpu-engines.XXXXXX")
trap 'rm -rf "$tmp"' EXIT


# One run of ENGINE; prints its wall seconds.
timed_run() {
  local engine=$1 out="$tmp/out"
  rm -rf "$out"
  sync
  local start=$EPOCHREALTIME
  run_checked "$tmp/log" \
    "$imgprep" run "$dataset" -o "$out" --engine cpu --cpu-engine "$engine" "${run_options[@]}" -q
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }'
}

images=$(
  timed_run tbb >/dev/null  # warm-up: page cache, and the image count from the manifest
  wc -l <"$tmp/out/manifest.jsonl"
)
timed_run procs >/dev/null
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $images images; $(nproc) cores"
tbb=() procs=()
for ((round = 1; round <= repeat; ++round)); do
  tbb+=("$(timed_run tbb)")
  procs+=("$(timed_run procs)")
  echo "round $round: tbb ${tbb[-1]} s, procs ${procs[-1]} s"
done
tbb_median=$(median "${tbb[@]}")
procs_median=$(median "${procs[@]}")
awk -v t="$tbb_median" -v p="$procs_median" -v n="$images" 'BEGIN {
  printf "median: tbb %.3f s (%.0f images/s), procs %.3f s (%.0f images/s); procs/tbb time %.3f\n",
         t, n / t, p, n / p, p / t }'

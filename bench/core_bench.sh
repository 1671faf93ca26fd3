#!/usr/bin/env bash
# core_bench.sh: imgprep's CPU pipeline against the decode-only ceilings and the torch DataLoader
# peer on one folder of images, interleaved so they share machine noise, plus imgprep's peak RSS
# on 250 vs all images. Prints a markdown table (and writes it to --out FILE). Build first.
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME and awk agree on the decimal point
cores=$(nproc)

usage() {
  cat <<EOF
usage: bench/core_bench.sh [DATASET] [--repeat R] [--out FILE]
  DATASET     folder of images (default: ../shared/datasets/imagenet-1k from the repo root)
  --repeat R  timed rounds of ceiling, imgprep and peer, interleaved (default 7)
  --out FILE  also write the markdown table to FILE
EOF
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo/bench/lib.sh"
dataset="$repo/../shared/datasets/imagenet-1k"
repeat=7
out_file=""
while (($# > 0)); do
  case "$1" in
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --out) out_file=${2:?--out needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) dataset=$1; shift ;;
  esac
done
[[ $repeat =~ ^[1-9][0-9]*$ ]] || { echo "core_bench.sh: --repeat must be a positive integer" >&2; exit 2; }
[[ -d $dataset ]] || { echo "core_bench.sh: no folder $dataset" >&2; exit 2; }
dataset=$(cd "$dataset" && pwd)

imgprep="$repo/build/bin/imgprep"
python=/usr/bin/python3  # Debian's, with python3-torch and python3-torchvision
peer="$repo/bench/peers/torch_dataloader.py"
[[ -x $imgprep ]] || { echo "core_bench.sh: $imgprep missing; build first (cmake --build build)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgprep-core-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The inputs as a list file, in imgprep's byte-wise order; its first 250 lines for the memory run.
list_images "$dataset" >"$tmp/all.txt"
head -n 250 "$tmp/all.txt" >"$tmp/first250.txt"
images=$(wc -l <"$tmp/all.txt")
((images > 0)) || { echo "core_bench.sh: no images in $dataset" >&2; exit 2; }

# One timed pass per round for every tool, so bursts of machine noise hit them alike.
# Two decode-only ceilings (`imgprep bench`'s ceiling tier: libjpeg-turbo, files in memory, same
# shrink-on-load rule, every core, as imgprep run and the DataLoader): (a) whole images, as a
# plain decode of each file (--crop none; --format images only because npy needs a fixed output
# size), and (a') the window of each image (columns and rows) the centre crop keeps, which is what
# imgprep decodes.
ceiling_cmd=("$imgprep" bench "$dataset" --preset imagenet --threads "$cores" --tiers ceiling --repeat 1 --warmup 1 -q
             --json "$tmp/ceiling.json")
whole_args=(--crop none --format images)
peer_cmd=("$python" "$peer" "$dataset" --workers "$cores" --batch-size 64 --repeat 1 --warmup 0 --json)

json_median() { sed -n 's/.*"median_images_per_s": *\([0-9.eE+-]*\).*/\1/p'; }
ceiling_median() {  # extra arguments for imgprep bench
  "${ceiling_cmd[@]}" "$@" >/dev/null
  "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["tiers"][0]["images_per_s"]["median"])' \
    "$tmp/ceiling.json"
}
fmt() { awk -v x="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, x }'; }

# imgprep run INPUT into a fresh folder after a sync; sets wall (s, from the shell's microsecond
# clock) and rss (KB, from /usr/bin/time).
# This VM's page cache does not keep files for long (other work and the host reclaim it), so
# every timed pass below starts with the inputs just read into the cache, as the ceiling's are.
warm_cache() { tr '\n' '\0' <"$1" | xargs -0 cat >/dev/null; }

run_imgprep() {
  local input=$1 out="$tmp/out"
  rm -rf "$out"
  sync
  warm_cache "$tmp/all.txt"
  local start=$EPOCHREALTIME
  run_checked "$tmp/imgprep.log" \
    /usr/bin/time -f '%M' -o "$tmp/time" "$imgprep" run "$input" -o "$out" --preset imagenet -q
  wall=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
  read -r rss <"$tmp/time"
  rm -rf "$out"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "warm-up round (untimed) ..." >&2
"${ceiling_cmd[@]}" >/dev/null
run_imgprep "$dataset"
"${peer_cmd[@]}" >/dev/null

whole_runs=() ceiling_runs=() imgprep_runs=() peer_runs=() imgprep_rss=()
for ((round = 1; round <= repeat; round++)); do
  whole_runs+=("$(ceiling_median "${whole_args[@]}")")
  ceiling_runs+=("$(ceiling_median)")
  run_imgprep "$dataset"
  imgprep_runs+=("$(awk -v n="$images" -v s="$wall" 'BEGIN { print n / s }')")
  imgprep_rss+=("$rss")
  warm_cache "$tmp/all.txt"
  peer_runs+=("$("${peer_cmd[@]}" | json_median)")
  echo "round $round/$repeat: ceilings ${whole_runs[-1]} (whole) ${ceiling_runs[-1]} (decoded window), imgprep ${imgprep_runs[-1]}," \
    "peer ${peer_runs[-1]} images/s" >&2
done

rss250=() rss1000=()
for ((round = 1; round <= repeat; round++)); do
  run_imgprep "$tmp/first250.txt"
  rss250+=("$rss")
  run_imgprep "$tmp/all.txt"
  rss1000+=("$rss")
done

whole_med=$(median "${whole_runs[@]}")
ceiling_med=$(median "${ceiling_runs[@]}")
imgprep_med=$(median "${imgprep_runs[@]}")
peer_med=$(median "${peer_runs[@]}")
join() { local x out=""; for x in "$@"; do out+="${out:+, }$(fmt "$x")"; done; echo "$out"; }
mib() { fmt "$(awk -v k="$(median "$@")" 'BEGIN { print k / 1024 }')" 1; }
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"

report() {
  cat <<EOF
## imgprep core benchmark

$images images from \`$dataset\`, ImageNet eval preprocessing (shorter side 256, centre crop 224,
float32 NCHW, mean/std); interleaved rounds: $repeat, after one untimed warm-up round.

| | median images/s | rounds (images/s) |
|---|---:|---|
| (a) decode-only ceiling: libjpeg-turbo decoding whole images (same shrink-on-load rule), $cores threads, files in memory | $(fmt "$whole_med") | $(join "${whole_runs[@]}") |
| (a') decode-only ceiling of what imgprep decodes: only the window of each image (columns and rows) the centre crop keeps | $(fmt "$ceiling_med") | $(join "${ceiling_runs[@]}") |
| (b) \`imgprep run\`: read, decode, resize, crop, normalise, write float32 npy shards | $(fmt "$imgprep_med") | $(join "${imgprep_runs[@]}") |
| (c) torch DataLoader, $cores workers, batch 64, PIL + torchvision transforms, no writing | $(fmt "$peer_med") | $(join "${peer_runs[@]}") |

| ratio | value |
|---|---:|
| imgprep / torch DataLoader | $(fmt "$(awk -v a="$imgprep_med" -v b="$peer_med" 'BEGIN { print a / b }')" 2) |
| imgprep / decode ceiling (a), whole images | $(fmt "$(awk -v a="$imgprep_med" -v b="$whole_med" 'BEGIN { print a / b }')" 2) |
| imgprep / decode ceiling (a'), decoded window | $(fmt "$(awk -v a="$imgprep_med" -v b="$ceiling_med" 'BEGIN { print a / b }')" 2) |

| \`imgprep run\` peak RSS (median of $repeat) | MiB |
|---|---:|
| first 250 images (list file) | $(mib "${rss250[@]}") |
| all $images images (list file) | $(mib "${rss1000[@]}") |
| all $images images (folder, timed rounds) | $(mib "${imgprep_rss[@]}") |

Machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(uname -sr), load average
$load_before before and $(cut -d' ' -f1-3 /proc/loadavg) after the run;
$(date -u '+%Y-%m-%d %H:%M UTC'); imgprep commit $commit; torch $("$python" -c 'import torch; print(torch.__version__)').

Commands (each round runs a, a', b, c in turn; \`sync\` and every input file read once (cat) before every timed \`imgprep run\` and DataLoader pass; \$TMP/out is removed after each):
\`\`\`
(a) ${ceiling_cmd[*]} ${whole_args[*]}
(a') ${ceiling_cmd[*]}
    # files preloaded into memory, one untimed and one timed pass per round
(b) /usr/bin/time -f '%M' $imgprep run $dataset -o \$TMP/out --preset imagenet -q
    # images/s = $images / wall seconds
(c) ${peer_cmd[*]}
memory: /usr/bin/time -f '%M' $imgprep run \$TMP/first250.txt (then \$TMP/all.txt) -o \$TMP/out --preset imagenet -q
\`\`\`
EOF
}

if [[ -n $out_file ]]; then
  report | tee "$out_file"
else
  report
fi

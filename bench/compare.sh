#!/usr/bin/env bash
# compare.sh: imgprep's tiers (from `imgprep bench`) against peer tools on the same folder of
# images with the same preprocessing, in interleaved rounds: one untimed warm-up round, then in
# each round every tool makes one timed pass (the order rotates from round to round), so bursts
# of machine noise hit all alike; medians over the rounds, ratios from the same run. Prints one
# markdown report (and writes it to --out FILE). Needs `scripts/setup.sh bench` and a build.
#
# Tensors (ImageNet eval: shorter side 256, centre crop 224, /255, mean/std, float32 CHW):
#   imgprep bench tiers serial, threads, procs, tbb, gpu, ceiling (--preset imagenet)
#   (a) bench/peers/mp_cv2.py            multiprocessing.Pool(cores) + OpenCV per image
#   (b) bench/peers/torch_dataloader.py  DataLoader(num_workers=cores) + PIL + torchvision
#   (d) bench/peers/torchvision_gpu.py   torchvision nvJPEG decode + resize on the GPU
#   (e) bench/peers/dali_cpu.py          NVIDIA DALI's CPU pipeline (bench/.venv)
# JPEG files (quality 90, shorter side 256, no crop), each with `cores` processes or threads:
#   (c) imgprep run --format images, vipsthumbnail (xargs -P cores), ImageMagick mogrify (same)
set -euo pipefail
export LC_ALL=C  # $EPOCHREALTIME and awk agree on the decimal point

usage() {
  cat <<EOF
usage: bench/compare.sh INPUT [--repeat R] [--out FILE] [--imgprep BIN]
  INPUT          folder of images (walked recursively), e.g. ../shared/datasets/imagenet-1k
  --repeat R     timed rounds after the warm-up round (default 5)
  --out FILE     also write the markdown report to FILE
  --imgprep BIN  the imgprep executable (default: build/bin/imgprep); it needs the bench subcommand
environment:
  PEER_PYTHON    Python with cv2, torch, torchvision, PIL (default /usr/bin/python3, Debian's)
  GPU_PYTHON     Python for torchvision_gpu.py (default: PEER_PYTHON)
  DALI_PYTHON    Python with nvidia.dali (default: bench/.venv/bin/python, made by setup.sh bench)
EOF
}

die() { echo "compare.sh: $*" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo/bench/lib.sh"
input=""
repeat=5
out_file=""
imgprep="$repo/build/bin/imgprep"
while (($# > 0)); do
  case "$1" in
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --out) out_file=${2:?--out needs a value}; shift 2 ;;
    --imgprep) imgprep=${2:?--imgprep needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) [[ -z $input ]] || { usage >&2; exit 2; }; input=$1; shift ;;
  esac
done
[[ -n $input ]] || { usage >&2; exit 2; }
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
[[ -d $input ]] || die "no folder $input"
input=$(cd "$input" && pwd)

python=${PEER_PYTHON:-/usr/bin/python3}
gpu_python=${GPU_PYTHON:-$python}
dali_python=${DALI_PYTHON:-$repo/bench/.venv/bin/python}
[[ -x $dali_python ]] || dali_python=$python  # dali_cpu.py then reports DALI as not importable
peers="$repo/bench/peers"
cores=$(nproc)

[[ -x $imgprep ]] || die "$imgprep missing; build first (cmake -S . -B build && cmake --build build)"
subcommands=$("$imgprep" --help 2>&1 || true)
grep -Eq '^[[:space:]]+bench([[:space:]]|$)' <<<"$subcommands" ||
  die "$imgprep has no 'bench' subcommand (not in '$imgprep --help'); build a version that has it"
for tool in vipsthumbnail mogrify convert; do
  command -v "$tool" >/dev/null || die "$tool missing; run scripts/setup.sh bench"
done
"$python" -c 'import cv2, numpy, PIL, torch, torchvision' 2>/dev/null ||
  die "$python cannot import cv2, numpy, PIL, torch and torchvision; run scripts/setup.sh bench"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgprep-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The inputs in imgprep's byte-wise order.
list_images "$input" >"$tmp/all.txt"
images=$(wc -l <"$tmp/all.txt")
((images > 0)) || die "no images in $input"

# vipsthumbnail --size only fits into a box (libvips 8.14 has no "fill" geometry like
# ImageMagick's 256x256^), so "shorter side 256" is --size x256 for images at least as wide as
# tall and --size 256x for the others, as displayed (EXIF orientation applied, as vipsthumbnail
# does). The files are split by that, untimed, into batches of at most $per files; vipsthumbnail
# and mogrify both get the same batches, `cores` at a time through xargs -P.
mkdir -p "$tmp/batches"
"$python" - "$tmp/all.txt" "$tmp/wide.txt" "$tmp/tall.txt" <<'EOF'
import sys
from PIL import Image

SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
with open(sys.argv[1]) as names, open(sys.argv[2], 'w') as wide, open(sys.argv[3], 'w') as tall:
    for name in names.read().splitlines():
        with Image.open(name) as image:
            width, height = image.size
            if image.getexif().get(0x0112, 1) in SWAPPING_ORIENTATIONS:
                width, height = height, width
        print(name, file=wide if width >= height else tall)
EOF
per=$(((images + cores * 4 - 1) / (cores * 4)))
if ((per > 256)); then per=256; fi
for side in wide tall; do
  if [[ -s $tmp/$side.txt ]]; then split -l "$per" -d -a 5 "$tmp/$side.txt" "$tmp/batches/$side-"; fi
done
batches=$(find "$tmp/batches" -type f | wc -l)

# The commands. Tensor tools write one JSON file (imgprep) or print one JSON line (peers).
tiers=serial,threads,procs,tbb,gpu,ceiling
imgprep_bench_cmd=("$imgprep" bench "$input" --preset imagenet --tiers "$tiers" --repeat 1 --warmup 0)
mp_cv2_cmd=("$python" "$peers/mp_cv2.py" "$input" --processes "$cores" --repeat 1 --warmup 1 --json)
dataloader_cmd=("$python" "$peers/torch_dataloader.py" "$input" --workers "$cores" --batch-size 64
  --repeat 1 --warmup 1 --json)
gpu_cmd=("$gpu_python" "$peers/torchvision_gpu.py" "$input" --batch-size 64 --repeat 1 --warmup 1 --json)
dali_cmd=("$dali_python" "$peers/dali_cpu.py" "$input" --threads "$cores" --batch-size 64
  --repeat 1 --warmup 1 --json)
# JPEG tools: OUT is appended (imgprep) or given first (the batch runners).
imgprep_images_cmd=("$imgprep" run "$input" --format images --resize shorter:256 --crop none
  --quality 90 -q -o)
# shellcheck disable=SC2016  # expanded by the inner bash
vips_batch='mapfile -t files <"$2"; case ${2##*/} in wide-*) size=x256 ;; *) size=256x ;; esac
exec vipsthumbnail --size "$size" -o "$1/%s.jpg[Q=90]" "${files[@]}"'
# shellcheck disable=SC2016
magick_batch='mapfile -t files <"$2"
exec mogrify -path "$1" -format jpg -auto-orient -filter Triangle -resize "256x256^" -quality 90 "${files[@]}"'

# run_batches SCRIPT OUT: every batch file through SCRIPT, `cores` processes at a time.
run_batches() {
  find "$tmp/batches" -type f | LC_ALL=C sort |
    xargs -d '\n' -P "$cores" -n 1 bash -c "$1" batch "$2"
}

# check_jpegs NAME OUT: how many JPEGs OUT holds and whether each has shorter side 256; the line
# goes to $tmp/check/NAME for the report.
check_jpegs() {
  "$python" - "$2" "$images" >"$tmp/check/$1" <<'EOF'
import sys
from pathlib import Path
from PIL import Image

out, expected = Path(sys.argv[1]), int(sys.argv[2])
files = sorted(p for p in out.rglob('*') if p.suffix.lower() in ('.jpg', '.jpeg'))
wrong = []
for path in files:
    with Image.open(path) as image:
        if min(image.size) != 256:
            wrong.append(f'{path.name} {image.size[0]}x{image.size[1]}')
verdict = 'ok' if len(files) == expected and not wrong else 'MISMATCH'
print(f'{verdict}: {len(files)} of {expected} files, {len(files) - len(wrong)} with shorter side 256'
      + (f'; e.g. {", ".join(wrong[:3])}' if wrong else ''))
EOF
}

# run_tool NAME DIR [check]: one pass of tool NAME, its result as JSON in DIR/NAME.json
# ({"available": false, "reason": ...} or {"failed": ...} when it could not run). Exits when
# imgprep itself fails.
run_tool() {
  local name=$1 dir=$2 check=${3:-} log="$2/$1.log" out="$tmp/out" start end cmd=()
  rm -rf "$out"
  sync
  case $name in
    imgprep)
      if ! "${imgprep_bench_cmd[@]}" --json "$dir/$name.json" >"$log" 2>&1; then
        cat "$log" >&2
        die "imgprep bench failed (above)"
      fi
      return ;;
    mp_cv2) cmd=("${mp_cv2_cmd[@]}") ;;
    torch_dataloader) cmd=("${dataloader_cmd[@]}") ;;
    torchvision_gpu) cmd=("${gpu_cmd[@]}") ;;
    dali_cpu) cmd=("${dali_cmd[@]}") ;;
    imgprep_images | vipsthumbnail | imagemagick)
      mkdir -p "$out"
      start=$EPOCHREALTIME
      case $name in
        imgprep_images)
          # Failed inputs (exit status 1) are counted below.
          run_checked "$log" "${imgprep_images_cmd[@]}" "$out" ;;
        vipsthumbnail) VIPS_CONCURRENCY=1 run_batches "$vips_batch" "$out" >"$log" 2>&1 || true ;;
        imagemagick) MAGICK_THREAD_LIMIT=1 run_batches "$magick_batch" "$out" >"$log" 2>&1 || true ;;
      esac
      end=$EPOCHREALTIME
      if [[ -n $check ]]; then check_jpegs "$name" "$out"; fi
      local written
      written=$(find "$out" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) | wc -l)
      if ((written < images)); then
        printf '{"failed": "%s of %s files written; %s"}\n' "$written" "$images" \
          "$(tail -n 1 "$log" | tr -d '[:cntrl:]"\134' | cut -c1-200)" >"$dir/$name.json"
      else
        awk -v n="$images" -v a="$start" -v b="$end" \
          'BEGIN { printf "{\"median_images_per_s\": %.6f, \"runs\": [%.6f]}\n", n / (b - a), n / (b - a) }' \
          >"$dir/$name.json"
      fi
      rm -rf "$out"
      return ;;
  esac
  local rc=0
  "${cmd[@]}" >"$dir/$name.out" 2>"$log" || rc=$?
  if ((rc == 0)) && tail -n 1 "$dir/$name.out" | grep -q '^{'; then
    tail -n 1 "$dir/$name.out" >"$dir/$name.json"
  else
    local message
    message=$(tail -n 1 "$log" | tr -d '[:cntrl:]"\134' | cut -c1-200)
    printf '{"failed": "exit status %s%s"}\n' "$rc" "${message:+: $message}" >"$dir/$name.json"
  fi
}

tools=(imgprep mp_cv2 torch_dataloader torchvision_gpu dali_cpu imgprep_images vipsthumbnail imagemagick)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
mkdir -p "$tmp/check" "$tmp/warmup"
echo "compare.sh: $images images, $cores cores; warm-up round (untimed, checks the JPEG outputs) ..." >&2
for name in "${tools[@]}"; do
  run_tool "$name" "$tmp/warmup" check
done
for ((round = 1; round <= repeat; round++)); do
  dir="$tmp/rounds/$round"
  mkdir -p "$dir"
  n=${#tools[@]}
  for ((i = 0; i < n; i++)); do
    run_tool "${tools[(i + round - 1) % n]}" "$dir"
  done
  echo "compare.sh: round $round/$repeat done" >&2
done

commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
kernel=$(uname -sr)
load="$load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
vips_version=$(vipsthumbnail --vips-version 2>/dev/null | head -n 1)
magick_version=$(convert -version | sed -n 's/^Version: ImageMagick \([^ ]*\).*/ImageMagick \1/p')
py_versions=$("$python" -c 'import cv2, PIL, torch, torchvision
print(f"OpenCV {cv2.__version__}, Pillow {PIL.__version__}, torch {torch.__version__}, torchvision {torchvision.__version__}")')
export CMP_TMP=$tmp CMP_REPEAT=$repeat CMP_IMAGES=$images CMP_INPUT=$input CMP_CORES=$cores
export CMP_CPU=$cpu CMP_KERNEL=$kernel CMP_STARTED=$started CMP_COMMIT=$commit CMP_LOAD=$load
export CMP_VIPS=$vips_version CMP_MAGICK=$magick_version CMP_PYVERSIONS=$py_versions
export CMP_PER=$per CMP_BATCHES=$batches
export CMP_CMD_IMGPREP="${imgprep_bench_cmd[*]} --json \$TMP/imgprep.json"
export CMP_CMD_MP_CV2="${mp_cv2_cmd[*]}" CMP_CMD_DATALOADER="${dataloader_cmd[*]}"
export CMP_CMD_GPU="${gpu_cmd[*]}" CMP_CMD_DALI="${dali_cmd[*]}"
export CMP_CMD_IMAGES="${imgprep_images_cmd[*]} \$TMP/out"
export CMP_CMD_VIPS="VIPS_CONCURRENCY=1 vipsthumbnail --size x256 (or 256x) -o '\$TMP/out/%s.jpg[Q=90]' BATCH..."
export CMP_CMD_MAGICK="MAGICK_THREAD_LIMIT=1 mogrify -path \$TMP/out -format jpg -auto-orient -filter Triangle -resize '256x256^' -quality 90 BATCH..."

report() {
  "$python" - <<'EOF'
"""Reads the rounds' JSON and prints the markdown report."""
import json
import os
import statistics
from pathlib import Path

env = os.environ
tmp = Path(env['CMP_TMP'])
repeat = int(env['CMP_REPEAT'])
rounds = [tmp / 'rounds' / str(r) for r in range(1, repeat + 1)]


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return {'failed': f'no result ({error.__class__.__name__})'}


class Result:
    """One tool's rounds: images/s per round, or why it did not run."""

    def __init__(self, entries):
        self.runs, self.note = [], ''
        for entry in entries:
            if 'failed' in entry:
                self.note = self.note or f'failed: {entry["failed"]}'
            elif entry.get('available', True) is False:
                self.note = self.note or f'not run: {entry.get("reason") or "unavailable"}'
            else:
                self.runs.append(float(entry['median_images_per_s']))
        if self.runs and self.note:  # ran in some rounds only
            self.note = f'{len(self.runs)} of {len(entries)} rounds; {self.note}'
        self.median = statistics.median(self.runs) if self.runs else None

    def cells(self, reference):
        if self.median is None:
            return [self.note, '-', '-']
        runs = ', '.join(f'{r:.0f}' for r in self.runs)
        ratio = f'{reference / self.median:.2f}' if reference else '-'
        median = f'{self.median:.0f}' + (f' ({self.note})' if self.note else '')
        return [median, runs, ratio]


def peer(name):
    return Result([load(r / f'{name}.json') for r in rounds])


# imgprep bench: one JSON per round, each tier's images_per_s.median.
TIER_WHAT = {
    'serial': 'one thread',
    'threads': 'plain threads, no TBB',
    'procs': 'CPU engine with worker processes (`--cpu-engine procs`)',
    'tbb': 'CPU engine on TBB threads (`imgprep run`\'s default)',
    'gpu': 'GPU engine',
    'ceiling': 'decode-only ceiling',
}
benches = [load(r / 'imgprep.json') for r in rounds]
tier_names, tier_what, tier_entries = [], {}, {}
for bench in benches:
    for tier in bench.get('tiers', []):
        name = tier.get('tier', '?')
        if name not in tier_entries:
            tier_names.append(name)
            tier_entries[name] = []
            tier_what[name] = TIER_WHAT.get(name, '')
        if tier.get('available', True) is False:
            tier_entries[name].append({'available': False, 'reason': tier.get('reason', '')})
        elif isinstance(tier.get('images_per_s'), dict) and 'median' in tier['images_per_s']:
            tier_entries[name].append(
                {'median_images_per_s': tier['images_per_s']['median']})
        else:
            tier_entries[name].append({'failed': 'no images_per_s.median in imgprep bench JSON'})
tiers = {name: Result(entries) for name, entries in tier_entries.items()}
tbb = tiers.get('tbb')
reference = tbb.median if tbb else None

tensor_rows = [(f'imgprep {name}', f'`imgprep bench` tier: {tier_what[name]}', tiers[name])
               for name in tier_names]
tensor_rows += [
    ('(a) Pool + OpenCV', f'`multiprocessing.Pool({env["CMP_CORES"]})`, cv2.imread, INTER_AREA '
     '(shrink) / INTER_LINEAR (enlarge), NumPy normalise, arrays back through `pool.imap`',
     peer('mp_cv2')),
    ('(b) torch DataLoader', f'`DataLoader(num_workers={env["CMP_CORES"]}, batch_size=64)`, PIL '
     '+ torchvision Resize/CenterCrop/ToTensor/Normalize', peer('torch_dataloader')),
    ('(d) torchvision GPU', '`decode_jpeg(device="cuda")` in batches of 64, resize(256, '
     'antialias=True), centre crop, normalise on the GPU', peer('torchvision_gpu')),
    ('(e) DALI CPU', f'DALI pipeline, `device_id=None`, {env["CMP_CORES"]} threads, batch 64: '
     'readers.file, decoders.image, resize(antialias), crop_mirror_normalize', peer('dali_cpu')),
]

images_rows = [
    ('imgprep run --format images', f'imgprep, default threads ({env["CMP_CORES"]})',
     peer('imgprep_images')),
    ('vipsthumbnail', f'{env["CMP_VIPS"]} (shrink-on-load, then its default lanczos3 reduce), '
     f'VIPS_CONCURRENCY=1, {env["CMP_CORES"]} processes '
     f'(xargs -P) over {env["CMP_BATCHES"]} batches of <= {env["CMP_PER"]} files',
     peer('vipsthumbnail')),
    ('ImageMagick mogrify', f'{env["CMP_MAGICK"]}, MAGICK_THREAD_LIMIT=1, -filter Triangle, '
     f'{env["CMP_CORES"]} processes over the same batches', peer('imagemagick')),
]
images_reference = images_rows[0][2].median


def table(rows, reference, ratio_title):
    lines = [f'| tool | what it does | median images/s | runs (images/s) | {ratio_title} |',
             '|---|---|---:|---|---:|']
    for tool, what, result in rows:
        cells = [cell.replace('|', '\\|') for cell in [tool, what] + result.cells(reference)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def ratio(a, b):
    return f'{a.median / b.median:.2f}' if a.median and b.median else '-'


def check(name):
    try:
        return (tmp / 'check' / name).read_text().strip()
    except OSError:
        return 'not checked'


imgprep_images, vips, magick = (row[2] for row in images_rows)
print(f"""## imgprep against its peers

{env['CMP_IMAGES']} images from `{env['CMP_INPUT']}`. Machine: {env['CMP_CORES']} CPUs (nproc), \
{env['CMP_CPU']}, {env['CMP_KERNEL']}; load average {env['CMP_LOAD']}; started {env['CMP_STARTED']}; \
imgprep commit {env['CMP_COMMIT']}. {env['CMP_PYVERSIONS']}; {env['CMP_VIPS']}; {env['CMP_MAGICK']}.
One untimed warm-up round, then {repeat} rounds; in each round every tool makes one timed pass (the
order rotates by one tool a round); medians over the rounds; ratios of the medians.

### Tensors: ImageNet eval preprocessing to float32 CHW

Shorter side 256 (antialiased), centre crop 224, /255, mean 0.485,0.456,0.406, std 0.229,0.224,0.225.
imgprep's figures are its `bench` tiers (one timed pass a round, no warm-up inside); each Python
peer runs one untimed and one timed epoch a round in a fresh process (interpreter start-up,
the Pool and the DALI pipeline are built before timing; the DataLoader, as by default, starts
its worker processes at every epoch, inside the timed pass); nothing is written to disk.

{table(tensor_rows, reference, 'imgprep tbb / tool')}

### JPEG files: shorter side 256, no crop, quality 90

Wall time of the whole command (process start-ups included) into an empty folder, after a `sync`.
Outputs checked after the warm-up round (count, shorter side 256 with PIL): imgprep {check('imgprep_images')};
vipsthumbnail {check('vipsthumbnail')}; ImageMagick {check('imagemagick')}.

{table(images_rows, images_reference, 'imgprep run / tool')}

imgprep / vipsthumbnail: {ratio(imgprep_images, vips)}; imgprep / ImageMagick: {ratio(imgprep_images, magick)}.

Commands (each round, in turn):
```
{env['CMP_CMD_IMGPREP']}
(a) {env['CMP_CMD_MP_CV2']}
(b) {env['CMP_CMD_DATALOADER']}
(d) {env['CMP_CMD_GPU']}
(e) {env['CMP_CMD_DALI']}
(c) {env['CMP_CMD_IMAGES']}
    {env['CMP_CMD_VIPS']}
    {env['CMP_CMD_MAGICK']}
```""")
EOF
}

if [[ -n $out_file ]]; then
  report | tee "$out_file"
else
  report
fi

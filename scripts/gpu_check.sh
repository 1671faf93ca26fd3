#!/usr/bin/env bash
# The GPU verification kit: build it here, run it on a borrowed GPU machine in one call.
#
#   scripts/gpu_check.sh pack          (here, after scripts/setup.sh test and the normal build)
#       Builds build/gpu-kit-build (Release, -DIMGPREP_CUDA=ON, sm_90 SASS + compute_90 PTX),
#       and fills gpu-kit/ (git-ignored, at most 55 MiB): bin/ (imgprep, imgprep-gpu-stage-bench,
#       imgprep_gpu_kernel_test, imgprep_gpu_batches_test, stripped), lib/ (every shared library they need except glibc and
#       the NVIDIA driver; the binaries run with LD_LIBRARY_PATH=gpu-kit/lib, set only for them)
#       and data/ (~150 ImageNet photos, the JPEG/PNG sample set, 4 large photos of which 2 are
#       progressive). OpenCV's codecs plugin is not packed: the kit's inputs are JPEG and PNG and
#       its outputs npy. Ends with a CPU smoke run of the packed command and prints the device
#       call to make.
#
#   scripts/gpu_check.sh run [KIT]     (on the GPU machine, from the repository root; KIT=gpu-kit)
#       Runs the checks, each under its own time limit, writing $OUT/gpu_check.log (every command
#       and its output, timestamped) and $OUT/gpu_check.json (per step: status, seconds, figures;
#       rewritten after every step). OUT defaults to ./gpu-check-out. Without a GPU every step
#       still runs and says "no GPU" (or what it could honestly check). Never uses the network.
#       GPU_CHECK_TIME_SCALE multiplies every time limit (e.g. 4 for a dry run on a slow machine).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIT_MAX_MIB=55

die() { echo "gpu_check: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------- pack

# Libraries that come with every Linux system or with the NVIDIA driver: never bundled.
is_system_lib() {
  case "$(basename "$1")" in
    libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | libresolv.so* | ld-linux* | \
      linux-vdso* | libcuda.so* | libnvidia*) return 0 ;;
  esac
  return 1
}

is_progressive_jpeg() {  # the first SOF marker is SOF2
  python3 - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read()
i = 2
while i + 4 <= len(d) and d[i] == 0xFF:
    m = d[i + 1]
    if m == 0xD8 or m == 0x01 or 0xD0 <= m <= 0xD7:
        i += 2
        continue
    if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
        sys.exit(0 if m == 0xC2 else 1)
    i += 2 + struct.unpack('>H', d[i + 2:i + 4])[0]
sys.exit(1)
EOF
}

pack() {
  local start=$SECONDS kit=$ROOT/gpu-kit build=$ROOT/build/gpu-kit-build
  local datasets=$ROOT/../shared/datasets
  cd "$ROOT"
  [[ -d $datasets/imagenet-1k && -d $datasets/large-photos ]] ||
    die "pack needs $datasets/imagenet-1k and large-photos"

  echo "== configuring and building $build (CUDA, sm_90)"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIMGPREP_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 > "$build.configure.log" 2>&1 ||
    { tail -30 "$build.configure.log"; die "configure failed (log: $build.configure.log)"; }
  cmake --build "$build" --target imgprep imgprep-gpu-stage-bench imgprep_gpu_kernel_test \
    imgprep_gpu_batches_test -j2 ||
    die "build failed"

  echo "== filling $kit"
  rm -rf "$kit"
  mkdir -p "$kit/bin" "$kit/lib" "$kit/data"
  local b
  for b in imgprep imgprep-gpu-stage-bench imgprep_gpu_kernel_test imgprep_gpu_batches_test; do
    cp "$build/bin/$b" "$kit/bin/$b"
    strip "$kit/bin/$b"
  done
  # Every library the binaries load (ldd lists them transitively), outside glibc and the driver.
  local lib
  while read -r lib; do
    is_system_lib "$lib" || cp -L "$lib" "$kit/lib/"
  done < <(for b in "$kit"/bin/*; do ldd "$b"; done | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
    sort -u)
  if LD_LIBRARY_PATH=$kit/lib ldd "$kit"/bin/* | grep -q 'not found'; then
    LD_LIBRARY_PATH=$kit/lib ldd "$kit"/bin/* | grep 'not found'
    die "a library the kit needs was not found"
  fi

  # Data: a deterministic ~150 of imagenet-1k (sorted, evenly spaced), the sample set's JPEGs and
  # PNGs, and 4 large photos: the 2 smallest progressive and 2 smallest baseline JPEGs over 500 KB
  # (smaller files are mostly small images).
  # (large-photos holds 17 progressive JPEGs, so no progressive copies need to be made.)
  mkdir -p "$kit/data/imagenet" "$kit/data/sample" "$kit/data/large"
  local -a files
  mapfile -t files < <(find "$datasets/imagenet-1k" -maxdepth 1 -type f | LC_ALL=C sort)
  local n=${#files[@]} want=150 i
  for ((i = 0; i < want && i < n; i++)); do cp "${files[i * n / want]}" "$kit/data/imagenet/"; done
  (cd datasets/sample && find . -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) \
    -exec cp --parents {} "$kit/data/sample/" \;)
  local progressive=0 baseline=0 f
  while read -r f; do
    if is_progressive_jpeg "$f"; then
      ((progressive < 2)) && { cp "$f" "$kit/data/large/"; progressive=$((progressive + 1)); }
    else
      ((baseline < 2)) && { cp "$f" "$kit/data/large/"; baseline=$((baseline + 1)); }
    fi
  done < <(find "$datasets/large-photos" -maxdepth 1 -type f -iname '*.jp*g' -size +500k -printf '%s %p\n' |
    sort -n | cut -d' ' -f2-)
  ((progressive == 2)) || die "large-photos has fewer than 2 progressive JPEGs"

  # Smoke test: the packed command, on the packed libraries only, without the codecs plugin.
  echo "== smoke test: gpu-kit/bin/imgprep run --engine cpu on the kit data"
  local smoke
  smoke=$(mktemp -d)
  LD_LIBRARY_PATH=$kit/lib "$kit/bin/imgprep" run "$kit/data" -o "$smoke/out" --engine cpu \
    --preset imagenet || { rm -rf "$smoke"; die "smoke run failed"; }
  rm -rf "$smoke"
  echo "   libraries resolved from gpu-kit/lib:"
  LD_LIBRARY_PATH=$kit/lib ldd "$kit/bin/imgprep" | awk '$3 ~ /gpu-kit\/lib/ { print "     " $1 }'

  local bytes mib
  bytes=$(du -sb "$kit" | cut -f1)
  mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
  echo "== gpu-kit: $mib MiB ($(find "$kit/data" -type f | wc -l) data files, $(ls "$kit/lib" | wc -l) libraries), packed in $((SECONDS - start)) s"
  ((bytes <= KIT_MAX_MIB * 1048576)) || die "gpu-kit is $mib MiB, over the $KIT_MAX_MIB MiB limit"
  cat <<EOF

Device call (one call; everything under \$OUT comes back):
  command:   scripts/gpu_check.sh run gpu-kit
  carry:     ["gpu-kit"]
  timeout_s: 580
EOF
}

# ----------------------------------------------------------------------------------------- run

OUT_DIR= LOG= JSON= WORK= KIT= HAVE_GPU=0 SCALE=1
STEP= STEP_START=0 STEP_DEADLINE=0 STATUS= FIGURES=

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >> "$LOG"; }

# t SECONDS CMD...: runs CMD, bounded by SECONDS and by the step's deadline, output to the log.
# Sets T_RC and T_OUT (its output). Never fails the script.
t() {
  local limit=$(($1 * SCALE)) left=$((STEP_DEADLINE - SECONDS))
  shift
  ((left < limit)) && limit=$left
  ((limit < 1)) && limit=1
  log "\$ $(printf '%q ' "$@")(limit ${limit}s)"
  local out=$WORK/cmd.out
  T_RC=0
  timeout --kill-after=5 "$limit" "$@" > "$out" 2>&1 || T_RC=$?
  ((T_RC == 124 || T_RC == 137)) && echo "[timed out after ${limit}s]" >> "$out"
  T_OUT=$(head -c 200000 "$out")
  head -c 200000 "$out" | sed 's/^/    /' >> "$LOG"
  (($(stat -c %s "$out") > 200000)) && log "  [output cut at 200000 of $(stat -c %s "$out") bytes]"
  log "  exit $T_RC"
  return 0
}

# The kit's binaries run as "${KITENV[@]}" BINARY: LD_LIBRARY_PATH for them alone (python3 and
# the system tools keep theirs). IMGPREP is the packed command so run.
KITENV=() IMGPREP=()

# fig KEY JSON-VALUE: a figure of the current step.
fig() { printf '%s\t%s\n' "$1" "$2" >> "$FIGURES"; }
jstr() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"; }

write_summary() {
  python3 - "$WORK/steps.tsv" "$JSON" "$HAVE_GPU" <<'EOF'
import json, sys
steps = []
for line in open(sys.argv[1]):
    name, status, seconds, figures = line.rstrip('\n').split('\t', 3)
    figs = {}
    for item in json.loads(figures):
        key, value = item.split('\t', 1)
        try:
            figs[key] = json.loads(value)
        except ValueError:
            figs[key] = value
    steps.append({'name': name, 'status': status, 'seconds': float(seconds), 'figures': figs})
summary = {'gpu': sys.argv[3] == '1', 'steps': steps,
           'passed': sum(s['status'] == 'pass' for s in steps),
           'failed': [s['name'] for s in steps if s['status'].startswith(('fail', 'timeout'))]}
json.dump(summary, open(sys.argv[2] + '.tmp', 'w'), indent=1)
import os
os.replace(sys.argv[2] + '.tmp', sys.argv[2])
EOF
}

# step NAME LIMIT FUNCTION: runs FUNCTION (which sets STATUS, or leaves it to its exit code and
# the commands' timeouts) and records it.
step() {
  STEP=$1 STEP_START=$SECONDS STEP_DEADLINE=$((SECONDS + $2 * SCALE)) STATUS=
  FIGURES=$WORK/fig.$1
  : > "$FIGURES"
  log "=== step $STEP (limit $(($2 * SCALE)) s)"
  local rc=0
  "$3" || rc=$?
  if [[ -z $STATUS ]]; then
    if ((SECONDS >= STEP_DEADLINE)); then STATUS=timeout
    elif ((rc == 0)); then STATUS=pass
    else STATUS="fail (exit $rc)"
    fi
  fi
  local figures
  figures=$(python3 -c 'import json, sys; print(json.dumps(open(sys.argv[1]).read().splitlines()))' "$FIGURES")
  printf '%s\t%s\t%s\t%s\n' "$STEP" "$STATUS" "$((SECONDS - STEP_START))" "$figures" >> "$WORK/steps.tsv"
  log "=== step $STEP: $STATUS ($((SECONDS - STEP_START)) s)"
  echo "gpu_check: $STEP: $STATUS ($((SECONDS - STEP_START)) s)"
  write_summary
}

# ------------------------------------------------------------------------------- the steps

step_environment() {
  t 10 nvidia-smi
  t 10 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  if ((T_RC == 0)) && [[ -n $T_OUT ]]; then
    HAVE_GPU=1
    fig gpus "$(jstr "$T_OUT")"
  elif [[ -e /dev/nvidia0 ]]; then
    HAVE_GPU=1  # no nvidia-smi, but a device node: the steps find out whether it works
    fig gpus '"nvidia-smi failed; /dev/nvidia0 exists"'
  fi
  local nvcc=nvcc
  command -v nvcc > /dev/null || nvcc=/usr/local/cuda/bin/nvcc
  t 10 "$nvcc" --version
  ((T_RC == 0)) && fig nvcc "$(jstr "$(grep -o 'release [0-9.]*' <<< "$T_OUT" | head -1)")"
  t 30 python3 -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())'
  ((T_RC == 0)) && fig torch "$(jstr "$(tail -1 <<< "$T_OUT")")"
  fig nproc "$(nproc)"
  fig gpu "$HAVE_GPU"
  ((HAVE_GPU)) || STATUS="no GPU"
}

# Counts of a gtest run's output into the figures; STATUS from them.
gtest_status() {
  local passed skipped failed
  # one line per test, ending in its time ("[       OK ] Suite.Name (12 ms)")
  passed=$(grep -cE '^\[       OK \] .* \([0-9]+ ms\)$' <<< "$T_OUT" || true)
  skipped=$(grep -cE '^\[  SKIPPED \] .* \([0-9]+ ms\)$' <<< "$T_OUT" || true)
  failed=$(grep -cE '^\[  FAILED  \] .* \([0-9]+ ms\)$' <<< "$T_OUT" || true)
  fig "$1passed" "$passed"; fig "$1skipped" "$skipped"; fig "$1failed" "$failed"
  if ((failed > 0)); then
    fig "$1failures" "$(jstr "$(grep -E 'Which is:|bytes differ|images differ|: (launch|kernel|upload|download|cudaMalloc):' <<< "$T_OUT" | head -20)")"
  fi
  if ((T_RC == 124 || T_RC == 137)); then STATUS=timeout
  elif ((T_RC != 0 || failed > 0)); then STATUS="fail (exit $T_RC)"
  elif ((skipped > 0 && passed == 0)); then
    STATUS="no GPU: skipped: $(grep -m1 -o 'no usable CUDA device.*' <<< "$T_OUT" || echo skipped)"
  fi
}

step_kernel_test() {
  t 80 "${KITENV[@]}" "$KIT/bin/imgprep_gpu_kernel_test"
  gtest_status ""
  [[ -n $STATUS ]] || STATUS=pass
}

# The training loader's batches made on the GPU (device="cuda") against the CPU engine's.
step_device_batches() {
  t 30 env IMGPREP_SAMPLE="$KIT/data/sample" "${KITENV[@]}" "$KIT/bin/imgprep_gpu_batches_test"
  gtest_status ""
  [[ -n $STATUS ]] || STATUS=pass
}

step_stage_bench() {
  local dtype
  for dtype in float32 uint8; do
    t 40 "${KITENV[@]}" "$KIT/bin/imgprep-gpu-stage-bench" "$DATA" --preset imagenet --dtype "$dtype" \
      --check --json
    if ((T_RC == 0)); then
      fig "$dtype" "$(grep '^{' <<< "$T_OUT" | tail -1)"
    else
      fig "$dtype" "$(jstr "exit $T_RC: $(tail -2 <<< "$T_OUT")")"
      ((HAVE_GPU)) && STATUS="fail ($dtype: exit $T_RC)"
    fi
  done
  ((HAVE_GPU)) || STATUS="no GPU"
}

# sanitize NAME TOOL CMD...: one compute-sanitizer run; its verdict into the figures.
sanitize() {
  local name=$1 tool=$2 verdict
  shift 2
  t 60 "$SANITIZER" --tool "$tool" --target-processes all --error-exitcode 86 "$@"
  if grep -qiE 'device not supported|error 999|unable to|not supported on this|failed to initialize' <<< "$T_OUT" &&
    ! grep -q 'ERROR SUMMARY: [1-9]' <<< "$T_OUT"; then
    verdict="unavailable: $(grep -m1 -iE 'device not supported|error 999|unable to|not supported|failed to initialize' <<< "$T_OUT")"
  elif grep -q 'no usable CUDA device\|no CUDA device\|engine: cpu' <<< "$T_OUT" && ((!HAVE_GPU)); then
    verdict="no GPU"
  elif ((T_RC == 124 || T_RC == 137)); then verdict=timeout
  elif ((T_RC == 0)); then verdict="pass: $(grep -m1 -o 'ERROR SUMMARY: .*\|RACECHECK SUMMARY: .*' <<< "$T_OUT" || echo clean)"
  else verdict="fail (exit $T_RC): $(grep -m1 -o 'ERROR SUMMARY: .*\|RACECHECK SUMMARY: .*' <<< "$T_OUT" || tail -1 <<< "$T_OUT")"
  fi
  fig "$name" "$(jstr "$verdict")"
  SAN_VERDICTS+=("$verdict")
}

step_sanitizers() {
  SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [[ ! -x $SANITIZER ]]; then STATUS="unavailable: compute-sanitizer not installed"; return; fi
  SAN_VERDICTS=()
  local list=$WORK/twenty.txt test_filter='GpuKernel.OutputsTallerThanTheGridMatch'
  find "$DATA/imagenet" -type f | LC_ALL=C sort | head -20 > "$list"
  local tool
  for tool in memcheck racecheck; do
    sanitize "kernel_test_$tool" "$tool" env "LD_LIBRARY_PATH=$KIT/lib" \
      "$KIT/bin/imgprep_gpu_kernel_test" "--gtest_filter=$test_filter"
    sanitize "imgprep_gpu_$tool" "$tool" env "LD_LIBRARY_PATH=$KIT/lib" "$KIT/bin/imgprep" run \
      "$list" -o "$WORK/san-$tool" --engine gpu --preset imagenet --batch 7
  done
  local v
  for v in "${SAN_VERDICTS[@]}"; do
    case $v in fail* | timeout*) STATUS="fail"; return ;; esac
  done
  for v in "${SAN_VERDICTS[@]}"; do
    case $v in pass*) ;; *) STATUS=$v; return ;; esac
  done
  STATUS=pass
}

# compare_outputs A B: every file of two OUT folders byte for byte, meta.json aside. Prints
# "same N" or one line per difference.
compare_outputs() {
  python3 - "$1" "$2" <<'EOF'
import os, sys
a, b = sys.argv[1], sys.argv[2]
def files(root):
    found = set()
    for d, _, names in os.walk(root):
        found.update(os.path.relpath(os.path.join(d, n), root) for n in names if n != 'meta.json')
    return found
fa, fb = files(a), files(b)
problems = [f'only in {a}: {f}' for f in sorted(fa - fb)] + [f'only in {b}: {f}' for f in sorted(fb - fa)]
def first_difference(x, y):
    n, chunk = min(len(x), len(y)), 1 << 16
    for at in range(0, n, chunk):
        if x[at:at + chunk] != y[at:at + chunk]:
            return next(i for i in range(at, min(at + chunk, n)) if x[i] != y[i])
    return n
for f in sorted(fa & fb):
    x, y = open(os.path.join(a, f), 'rb').read(), open(os.path.join(b, f), 'rb').read()
    if x != y:
        differing = sum(p != q for p, q in zip(x, y)) if len(x) == len(y) and len(x) < 1 << 24 else '?'
        problems.append(f'{f}: sizes {len(x)} / {len(y)}, first differing byte {first_difference(x, y)}, '
                        f'{differing} bytes differ')
print('\n'.join(problems[:20]) if problems else f'same {len(fa)}')
EOF
}

step_engines() {
  local preset dtype batch cpu gpu result differences=0 compared=0 failures=0
  for preset in imagenet clip yolo; do
    for dtype in float32 float16 uint8; do
      cpu=$WORK/e/cpu-$preset-$dtype
      t 30 "${IMGPREP[@]}" run "$DATA" -o "$cpu" --engine cpu --preset "$preset" --dtype "$dtype" -q
      if ((T_RC != 0)); then
        failures=$((failures + 1))
        fig "cpu $preset $dtype" "$(jstr "exit $T_RC")"
        continue
      fi
      ((HAVE_GPU)) || continue
      for batch in 1 7 64; do
        gpu=$WORK/e/gpu-$preset-$dtype-$batch
        t 30 "${IMGPREP[@]}" run "$DATA" -o "$gpu" --engine gpu --batch "$batch" --preset "$preset" \
          --dtype "$dtype" -q
        if ((T_RC != 0)); then
          failures=$((failures + 1))
          fig "gpu $preset $dtype batch $batch" "$(jstr "exit $T_RC: $(tail -1 <<< "$T_OUT")")"
          continue
        fi
        result=$(compare_outputs "$cpu" "$gpu")
        log "  compare cpu vs gpu $preset $dtype batch $batch: $result"
        compared=$((compared + 1))
        if [[ $result != same* ]]; then
          differences=$((differences + 1))
          fig "diff $preset $dtype batch $batch" "$(jstr "$result")"
        fi
        rm -rf "$gpu"
      done
      rm -rf "$cpu"
    done
  done
  fig compared "$compared"; fig differing "$differences"; fig failed_runs "$failures"
  if ((failures + differences > 0)); then STATUS="fail ($differences differ, $failures runs failed)"
  elif ((!HAVE_GPU)); then STATUS="no GPU: the 9 CPU references ran"
  else STATUS=pass
  fi
}

# A bench JSON's gist: per tier, median images/s and whether its output equalled the others',
# or why it did not run.
bench_figures() {
  python3 - "$1" <<'EOF' 2> /dev/null || echo null
import json, sys
tiers = {}
for t in json.load(open(sys.argv[1]))['tiers']:
    if not t.get('available'):
        tiers[t['tier']] = 'unavailable: ' + t.get('reason', '')
    else:
        tiers[t['tier']] = {'images_per_s': round(t['images_per_s']['median'], 1),
                            'output_equal': t.get('output', {}).get('equal'), 'ok': t.get('ok'),
                            'failed': t.get('failed'), 'verdict': t.get('verdict')}
print(json.dumps(tiers))
EOF
}

step_bench() {
  local threads name
  for threads in all 4; do
    name=$OUT_DIR/bench-$threads.json
    local -a extra=()
    [[ $threads == all ]] || extra=(--threads "$threads")
    t 60 env IMGPREP_NVJPEG_LIBRARY="$(find_nvjpeg)" "${IMGPREP[@]}" bench "$DATA" \
      --tiers tbb,gpu,gpu-decode,ceiling --preset imagenet --repeat 3 --json "$name" "${extra[@]}"
    if ((T_RC != 0)); then
      fig "bench $threads" "$(jstr "exit $T_RC: $(tail -2 <<< "$T_OUT")")"
      ((HAVE_GPU)) && STATUS="fail (bench $threads: exit $T_RC)"
    else
      fig "bench $threads" "$(bench_figures "$name")"
      if ((HAVE_GPU)) && grep -q '"gpu": "unavailable' <<< "$(tail -1 "$FIGURES")"; then
        STATUS="fail (gpu tier unavailable on a GPU machine)"
      fi
    fi
  done
  [[ -n $STATUS ]] || STATUS=$( ((HAVE_GPU)) && echo pass || echo "no GPU: the gpu tier cannot run")
}

# nvJPEG on the GPU machine: the kit does not carry it; torch's or torchvision's wheels do.
find_nvjpeg() {
  python3 - <<'EOF' 2> /dev/null || true
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
patterns = ['nvidia/cu13/lib/libnvjpeg.so.13*', 'nvidia/nvjpeg/lib/libnvjpeg.so.13*',
            'torchvision.libs/libnvjpeg*.so.13*', 'torch/lib/libnvjpeg*.so.13*']
found = [f for r in roots for p in patterns for f in sorted(glob.glob(os.path.join(r, p)))]
found += sorted(glob.glob('/usr/local/cuda*/lib64/libnvjpeg.so.13*'))
print(found[0] if found else '')
EOF
}

# Per-pixel agreement of two uint8 runs' shards, in levels: mean |difference|, its 99.9th
# percentile and maximum, over the rows both have.
agreement() {
  python3 - "$1" "$2" <<'EOF' 2> /dev/null || echo null
import glob, json, os, sys
import numpy as np
def rows(out):
    return np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(out, 'shard-*.npy')))])
a, b = rows(sys.argv[1]).astype(np.int16), rows(sys.argv[2]).astype(np.int16)
d = np.abs(a - b)
meta = json.load(open(os.path.join(sys.argv[2], 'meta.json')))
print(json.dumps({'images': int(len(a)), 'mean': round(float(d.mean()), 4),
                  'p99.9': int(np.percentile(d, 99.9)), 'max': int(d.max()),
                  'identical_images': int(sum((x == 0).all() for x in d)),
                  'decoders': meta.get('decoders')}))
EOF
}

# --decode gpu: nvJPEG found, its backend and engines, agreement with the CPU engine's decoding
# (the bounds: mean <= 0.25, 99.9th percentile <= 2, max <= 4 levels), and images/s of the
# hardware and GPU backends at batch 128 and 256.
step_gpu_decode() {
  local lib
  lib=$(find_nvjpeg)
  fig libnvjpeg "$(jstr "${lib:-not found}")"
  if [[ -z $lib ]]; then
    STATUS=$( ((HAVE_GPU)) && echo "fail: no libnvjpeg.so.13 on this machine" || echo "no GPU: no nvJPEG")
    return
  fi
  local cpu=$WORK/e/decode-cpu gpu=$WORK/e/decode-gpu
  t 30 "${IMGPREP[@]}" run "$DATA" -o "$cpu" --engine cpu --no-shrink-on-load --preset imagenet \
    --dtype uint8 -q
  t 30 env IMGPREP_NVJPEG_LIBRARY="$lib" "${IMGPREP[@]}" run "$DATA" -o "$gpu" --decode gpu \
    --cpu-decode-share 0 --preset imagenet --dtype uint8
  fig "run" "$(jstr "exit $T_RC: $(head -1 <<< "$T_OUT")")"
  if ((T_RC != 0)); then
    STATUS=$( ((HAVE_GPU)) && echo "fail (--decode gpu: exit $T_RC)" || echo "no GPU: --decode gpu refused")
    return
  fi
  local figures
  figures=$(agreement "$cpu" "$gpu")
  fig agreement "$figures"
  if ! python3 -c 'import json,sys; a=json.loads(sys.argv[1]); sys.exit(0 if a["mean"] <= 0.25 and a["p99.9"] <= 2 and a["max"] <= 4 else 1)' "$figures"; then
    STATUS="fail (outside the agreement bounds: $figures)"
  fi
  local backend batch name
  for backend in hardware gpu; do
    for batch in 128 256; do
      name=$OUT_DIR/bench-decode-$backend-$batch.json
      t 25 env IMGPREP_NVJPEG_LIBRARY="$lib" IMGPREP_NVJPEG_BACKEND="$backend" "${IMGPREP[@]}" \
        bench "$DATA/imagenet" --tiers gpu-decode --preset imagenet --batch "$batch" \
        --cpu-decode-share 0 --repeat 3 --json "$name"
      fig "bench $backend batch $batch" "$(bench_figures "$name")"
    done
  done
  rm -rf "$cpu" "$gpu"
  [[ -n $STATUS ]] || STATUS=pass
}

step_torchvision() {
  t 60 python3 "$ROOT/bench/peers/torchvision_gpu.py" "$DATA" --json --repeat 3
  local line
  line=$(grep '^{' <<< "$T_OUT" | tail -1 || true)
  fig result "${line:-null}"
  if ((T_RC != 0)); then STATUS="fail (exit $T_RC)"
  elif [[ -z $line ]]; then STATUS="fail (no JSON line)"
  elif grep -q '"available": false' <<< "$line"; then
    STATUS=$( ((HAVE_GPU)) && echo "fail: reports itself unavailable on a GPU machine" || echo "no GPU: peer unavailable")
  else STATUS=pass
  fi
}

step_failure_paths() {
  local problems=()
  # A device that is not there: exit 2, a message naming it.
  t 20 "${IMGPREP[@]}" run "$DATA/sample" -o "$WORK/h-device" --engine gpu --device 1 \
    --preset imagenet
  fig "device 1" "$(jstr "exit $T_RC: $(tail -2 <<< "$T_OUT")")"
  if ((HAVE_GPU)); then
    local count
    count=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU' || true)
    if ((count == 1)) && { ((T_RC != 2)) || ! grep -qi 'device.*1\|1.*device' <<< "$T_OUT"; }; then
      problems+=("--device 1: exit $T_RC")
    fi
  elif ((T_RC != 2)); then problems+=("--device 1 without a GPU: exit $T_RC, not 2")
  fi

  # No visible device: --engine auto falls back to the CPU, with the CPU engine's bytes.
  t 30 env CUDA_VISIBLE_DEVICES= LD_LIBRARY_PATH="$KIT/lib" "$KIT/bin/imgprep" run "$DATA/sample" \
    -o "$WORK/h-auto" --engine auto --preset imagenet
  local engine_line
  engine_line=$(grep -im1 'engine' <<< "$T_OUT" || true)
  fig "auto without devices" "$(jstr "exit $T_RC: $engine_line")"
  t 30 "${IMGPREP[@]}" run "$DATA/sample" -o "$WORK/h-cpu" --engine cpu --preset imagenet -q
  local same
  same=$(compare_outputs "$WORK/h-cpu" "$WORK/h-auto")
  fig "auto vs cpu" "$(jstr "$same")"
  if [[ $same != same* ]] || ! grep -qi 'cpu' <<< "$engine_line"; then
    problems+=("auto fallback: $engine_line / $same")
  fi

  # A batch the device cannot hold: 1000 copies of a small image resized to 4000x4000 float32
  # (192 MB each, 192 GB for one batch of 1000) in one --batch 65535: a clean failure, no hang.
  local list=$WORK/many.txt small i
  small=$(find "$DATA/imagenet" -type f | LC_ALL=C sort | head -1)
  for ((i = 0; i < 1000; i++)); do echo "$small"; done > "$list"
  t 60 "${IMGPREP[@]}" run "$list" -o "$WORK/h-oom" --engine gpu --batch 65535 --resize 4000x4000 \
    --in-flight 65536 -q
  fig "huge batch" "$(jstr "exit $T_RC: $(tail -3 <<< "$T_OUT")")"
  if ((HAVE_GPU)); then
    if ((T_RC == 124 || T_RC == 137 || T_RC >= 128)); then problems+=("huge batch: exit $T_RC (hang or crash)")
    elif ((T_RC == 0)); then problems+=("huge batch: succeeded (exit 0), expected a memory error")
    elif ! grep -qi 'memory' <<< "$T_OUT"; then problems+=("huge batch: exit $T_RC without a memory message")
    fi
  fi
  rm -rf "$WORK"/h-*
  if ((${#problems[@]})); then STATUS="fail: ${problems[*]}"
  elif ((!HAVE_GPU)); then STATUS="no GPU: --device and the CPU fallback checked; huge batch not tried on a GPU"
  else STATUS=pass
  fi
}

run_checks() {
  KIT=$(cd "${1:-gpu-kit}" 2>/dev/null && pwd) || die "no kit at ${1:-gpu-kit}: run scripts/gpu_check.sh pack"
  [[ -x $KIT/bin/imgprep ]] || die "$KIT/bin/imgprep missing: run scripts/gpu_check.sh pack"
  DATA=$KIT/data
  KITENV=(env "LD_LIBRARY_PATH=$KIT/lib")
  IMGPREP=("${KITENV[@]}" "$KIT/bin/imgprep")
  SCALE=${GPU_CHECK_TIME_SCALE:-1}
  OUT_DIR=${OUT:-$ROOT/gpu-check-out}
  mkdir -p "$OUT_DIR"
  OUT_DIR=$(cd "$OUT_DIR" && pwd)
  LOG=$OUT_DIR/gpu_check.log JSON=$OUT_DIR/gpu_check.json
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  : > "$LOG"
  : > "$WORK/steps.tsv"
  mkdir -p "$WORK/e"
  log "gpu_check run: kit $KIT, out $OUT_DIR, $(uname -srm), time scale $SCALE"
  # Limits, in seconds, sum 560 (the run must end within 9.5 minutes on the GPU machine).
  step environment 20 step_environment
  step kernel_test 60 step_kernel_test
  step device_batches 25 step_device_batches
  step stage_bench 40 step_stage_bench
  step sanitizers 100 step_sanitizers
  step engines 110 step_engines
  step gpu_decode 60 step_gpu_decode
  step bench 60 step_bench
  step torchvision_peer 45 step_torchvision
  step failure_paths 40 step_failure_paths
  log "done in $SECONDS s"
  echo "gpu_check: done in $SECONDS s; summary $JSON, log $LOG"
}

case ${1:-} in
  pack) pack ;;
  run) shift; run_checks "$@" ;;
  *) echo "usage: scripts/gpu_check.sh pack | run [KIT]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# `scripts/gpu_check.sh run` without a GPU, on a tiny kit made of this build's binaries and the
# sample set: every step must run and be recorded, none may fail. Skipped (exit 77) on a GPU
# machine, where the real check is scripts/gpu_check.sh itself.
# Usage: gpu_check_dry_run.sh WORKDIR IMGPREP STAGE_BENCH KERNEL_TEST BATCHES_TEST
set -euo pipefail
work=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if nvidia-smi -L 2> /dev/null | grep -q '^GPU'; then
  echo "a GPU is present: run scripts/gpu_check.sh pack and run instead"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work/kit/bin" "$work/kit/lib" "$work/kit/data"
ln -s "$2" "$work/kit/bin/imgprep"
ln -s "$3" "$work/kit/bin/imgprep-gpu-stage-bench"
ln -s "$4" "$work/kit/bin/imgprep_gpu_kernel_test"
ln -s "$5" "$work/kit/bin/imgprep_gpu_batches_test"
cp -r "$root/datasets/sample" "$work/kit/data/sample"  # copies: python's rglob skips linked folders
cp -r "$root/datasets/sample/animals" "$work/kit/data/imagenet"
OUT=$work/out "$root/scripts/gpu_check.sh" run "$work/kit"
python3 - "$work/out/gpu_check.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
names = [s['name'] for s in summary['steps']]
expected = ['environment', 'kernel_test', 'device_batches', 'stage_bench', 'sanitizers', 'engines',
            'gpu_decode', 'bench',
            'torchvision_peer', 'failure_paths']
assert names == expected, names
bad = [(s['name'], s['status']) for s in summary['steps'] if s['status'].startswith(('fail', 'timeout'))]
assert not bad, bad
assert not summary['gpu']
print('gpu_check dry run: 10 steps recorded, none failed')
PY

#!/usr/bin/env bash
# The checked runs over the torture set (tests/torture/make_torture.py):
#   tests/sanitize/run.sh [BUILD] [FUZZ_SECONDS]
# 1. builds BUILD (default build-sanitize: clang, ASan + UBSan, libFuzzer coverage; see the
#    top-level CMakeLists.txt) with the imgprep command and the decode_transform_fuzzer;
# 2. runs the sanitized imgprep over the torture set: npy on the tbb and procs engines, and
#    --format images; any sanitizer report (from the command or a worker process) fails;
# 3. runs the fuzzer over the fuzz regression inputs and the torture set for FUZZ_SECONDS
#    (default 20): the fuzz target must build and stay clean;
# 4. runs the normal build's imgprep (IMGPREP, default build/bin/imgprep) under valgrind's
#    memcheck over the torture set: no output byte may come from memory nothing wrote
#    (memcheck reports such bytes when they are written to a file).
# Prints one line per step and exits non-zero at the first failure. CTest runs it as the
# `sanitize` test.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${1:-$root/build-sanitize}")
fuzz_seconds=${2:-20}
imgprep_release=$(realpath -m "${IMGPREP:-$root/build/bin/imgprep}")
cd "$root"

step() { printf 'sanitize: %s\n' "$*"; }
fail() {
  printf 'sanitize: FAILED: %s\n' "$*" >&2
  exit 1
}

# 1. Build (configured once; later builds only recompile what changed).
mkdir -p "$build"
if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DIMGPREP_FUZZ=ON -DIMGPREP_CUDA=OFF \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 ||
    { tail -n 30 "$build/configure.log" >&2; fail "configure (see $build/configure.log)"; }
fi
cmake --build "$build" -j "$(nproc)" --target imgprep decode_transform_fuzzer \
  >"$build/build.log" 2>&1 || { tail -n 40 "$build/build.log" >&2; fail "build"; }
step "built $build (ASan + UBSan + fuzzer)"

work=$build/sanitize-run
rm -rf "$work"
mkdir -p "$work/reports"
/usr/bin/python3 tests/torture/make_torture.py "$work/torture" >/dev/null
step "torture set: $(find "$work/torture" -type f | wc -l) files"

# 2. The sanitized command. Reports go to files, so a report from a procs worker (whose crash
# the engine turns into a failed row) is seen too.
export ASAN_OPTIONS="log_path=$work/reports/asan:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="log_path=$work/reports/ubsan:print_stacktrace=1:halt_on_error=1"
sanitized_run() {
  local name=$1
  shift
  local rc=0
  "$build/bin/imgprep" run "$work/torture" -o "$work/$name" -q "$@" >"$work/$name.log" 2>&1 ||
    rc=$?
  if compgen -G "$work/reports/*" >/dev/null; then
    cat "$work"/reports/* >&2
    fail "$name: sanitizer report (above)"
  fi
  # 0: every input ok; 1: some inputs failed (the torture set has many that must fail).
  ((rc <= 1)) || { cat "$work/$name.log" >&2; fail "$name: exit $rc"; }
  step "$name: clean (exit $rc, $(grep -c '"status":"ok"' "$work/$name/manifest.jsonl") ok rows)"
}
sanitized_run tbb --preset imagenet --threads 2
sanitized_run tbb-full-decode --preset imagenet --no-shrink-on-load --threads 2
sanitized_run procs --preset clip --cpu-engine procs --workers 2
sanitized_run images --format images --resize shorter:64 --image-format webp --threads 2

# 3. The fuzzer, seeded with the regression inputs and the torture files behind a prefix of
# option set 0 and all flags (see fuzz/decode_transform_fuzzer.cpp).
mkdir -p "$work/fuzz-seeds" "$work/fuzz-corpus"
find tests/fuzz_regressions -type f ! -name '*.md' -exec cp {} "$work/fuzz-seeds/" \;
i=0
while IFS= read -r -d '' file; do
  { printf '\x00\x07'; cat "$file"; } >"$work/fuzz-seeds/torture-$i"
  i=$((i + 1))
done < <(find "$work/torture" -type f -size -1000k -print0 | sort -z)
# -timeout catches hangs: the slowest regression seed (png-4x999999-yolo-resampler-rows-10GB)
# takes 12 s under ASan on a busy 2-core machine.
rc=0
"$build/bin/decode_transform_fuzzer" -max_total_time="$fuzz_seconds" -max_len=1000000 \
  -timeout=60 -rss_limit_mb=2048 -artifact_prefix="$work/" "$work/fuzz-corpus" \
  "$work/fuzz-seeds" >"$work/fuzz.log" 2>&1 || rc=$?
if ((rc != 0)); then
  grep -m 3 -E 'ERROR: |FINDING: |runtime error: ' "$work/fuzz.log" >&2 || tail -n 20 "$work/fuzz.log" >&2
  fail "fuzzer: exit $rc (log: $work/fuzz.log; the input is in $work/)"
fi
step "fuzzer: ${fuzz_seconds} s clean, $(grep -Eo '^#[0-9]+' "$work/fuzz.log" | tail -n 1) runs"
unset ASAN_OPTIONS UBSAN_OPTIONS

# 4. Memory nothing wrote, in the normal build's outputs.
[[ -x $imgprep_release ]] || fail "no $imgprep_release (build the project first, or set IMGPREP)"
rc=0
valgrind --tool=memcheck --error-exitcode=99 --trace-children=no --log-file="$work/memcheck.log" \
  "$imgprep_release" run "$work/torture" -o "$work/memcheck" -q --preset imagenet \
  --threads 1 --io-threads 1 >/dev/null 2>&1 || rc=$?
if ((rc > 1)); then
  grep -m 20 -A 12 -E 'uninitialised|Invalid (read|write)' "$work/memcheck.log" >&2 ||
    tail -n 30 "$work/memcheck.log" >&2
  fail "memcheck: exit $rc (log: $work/memcheck.log)"
fi
step "memcheck: clean (exit $rc)"

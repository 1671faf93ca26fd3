#!/usr/bin/env bash
# Fuzzes decode + transform for SECONDS (default 600) on one job:
#   fuzz/run.sh [SECONDS]
# Builds build-fuzz (clang, ASan + UBSan, libFuzzer) if needed, seeds a corpus from
# datasets/sample, datasets/sample-bad and the generated test fixtures, runs
# decode_transform_fuzzer, and prints a one-line result. Everything it writes is under
# build-fuzz/: seeds/ (rebuilt each run), corpus/ (kept, so runs continue where the last one
# stopped), crashes/ (crash-*, timeout-*, oom-* inputs), fuzz.log (libFuzzer's output).
# A crash stops the run: replay it with build-fuzz/bin/decode_transform_fuzzer FILE, and keep
# it as a regression test in tests/fuzz_regressions/.
set -euo pipefail

seconds=${1:-600}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-fuzz
fuzzer=$build/bin/decode_transform_fuzzer
cd "$root"

# Build (configure once; the build step is a no-op when nothing changed).
mkdir -p "$build"
if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DIMGPREP_FUZZ=ON -DIMGPREP_CUDA=OFF \
    -DBUILD_TESTING=OFF >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    exit 1
  }
fi
cmake --build "$build" --target decode_transform_fuzzer -j 2 >"$build/build.log" 2>&1 || {
  tail -n 40 "$build/build.log" >&2
  exit 1
}

# Seeds. Input layout (see decode_transform_fuzzer.cpp): byte 0 picks the option set, byte 1
# the flags (bit 0 region decode, bit 1 shrink-on-load, bit 2 EXIF), then the file. Each file
# is seeded with three option sets and flag combinations.
/usr/bin/python3 tests/fixtures/make_fixtures.py "$build/fixtures" >/dev/null
rm -rf "$build/seeds"
mkdir -p "$build/seeds" "$build/corpus" "$build/crashes"
i=0
while IFS= read -r -d '' file; do
  for k in 0 1 2; do
    option_set=$(((i * 3 + k) % 11)) # 11 option sets in decode_transform_fuzzer.cpp
    flags=$(((k == 0) ? 7 : (i + k) % 8))
    {
      printf '%b' "\\x$(printf %02x "$option_set")\\x$(printf %02x "$flags")"
      cat "$file"
    } >"$build/seeds/$i-$k"
  done
  i=$((i + 1))
done < <(find datasets/sample datasets/sample-bad "$build/fixtures" -type f \
  ! -name '*.md' ! -name '*.txt' ! -name '*.expected.png' -print0 | sort -z)
# The regression inputs are fuzzer inputs already (prefix included).
if [[ -d tests/fuzz_regressions ]]; then
  find tests/fuzz_regressions -type f ! -name '*.md' -exec cp {} "$build/seeds/" \;
fi

# Fuzz.
rc=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$fuzzer" \
  -max_total_time="$seconds" -max_len=1000000 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/crashes/" \
  "$build/corpus" "$build/seeds" >"$build/fuzz.log" 2>&1 || rc=$?

# The result: libFuzzer's last status line and final stats.
log=$build/fuzz.log
status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
field() { sed -n "s/.*[[:space:]]$1: *\\([^[:space:]]*\\).*/\\1/p" <<<"$status"; }
stat() { sed -n "s/^stat::$1: *\\([0-9]*\\).*/\\1/p" "$log" | tail -n 1; }
crashes=$(find "$build/crashes" -type f | wc -l)
echo "fuzz: ${seconds} s, $(stat number_of_executed_units) execs" \
  "($(stat average_exec_per_sec) exec/s), cov $(field cov), ft $(field ft)," \
  "corpus $(field corp), peak rss $(stat peak_rss_mb) MB, crashes ${crashes}" \
  "(in build-fuzz/crashes), exit ${rc}; log: build-fuzz/fuzz.log"
if ((rc != 0)); then
  grep -m 1 -E 'ERROR: |FINDING: |runtime error: ' "$log" >&2 || tail -n 20 "$log" >&2
fi
exit "$rc"

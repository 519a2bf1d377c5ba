#!/usr/bin/env bash
# Builds the libFuzzer target for the server's request reading (fuzz/) with
# clang, ASan and UBSan, and runs it for a bounded time.
#   scripts/fuzz.sh [SECONDS]     default 60; crashes land in build-fuzz/
# Installs clang and its fuzzer runtime from Debian if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
case $seconds in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2;; esac

source scripts/packages.sh
ensure_packages clang libclang-rt-14-dev

out=build-fuzz
mkdir -p "$out/corpus"
cp -n fuzz/corpus/* "$out/corpus/" 2>/dev/null || true
echo "fuzz: building $out/fuzz_request (the CMake target, with clang)"
cmake -S . -B "$out" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTESTBED_SANITIZE=address,undefined -DTESTBED_FUZZ=ON -DTESTBED_TESTS=OFF >/dev/null
grep -q '^TESTBED_CAN_FUZZ:INTERNAL=1' "$out/CMakeCache.txt" ||
  { echo "fuzz: clang++ cannot build a libFuzzer target here (see $out/CMakeFiles/CMakeError.log)" >&2; exit 1; }
rm -f "$out/fuzz_request"  # so that the check below sees this build's
cmake --build "$out" --target fuzz_request -j "$(nproc)" -- --no-print-directory | grep -vE '^\[ *[0-9]+%\]' || true
test -x "$out/fuzz_request" || { echo "fuzz: the build failed" >&2; exit 1; }
echo "fuzz: running for ${seconds} s"
cd "$out"
./fuzz_request -max_total_time="$seconds" -max_len=16384 -timeout=10 -print_final_stats=1 corpus 2>&1 |
  grep -E "^(#[0-9]+ *(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)" || true
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && echo "fuzz: no failures in ${seconds} s" || echo "fuzz: FAILED (exit $status), see build-fuzz/" >&2
exit "$status"

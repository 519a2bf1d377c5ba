#!/usr/bin/env bash
# Builds the tests with sanitizers and runs them, in their own build folders.
#   scripts/sanitize.sh [asan|tsan|all]   default asan
#     asan  AddressSanitizer + UndefinedBehaviorSanitizer, every test
#     tsan  ThreadSanitizer, every test (the thread-pool crawler, the server on
#           several threads, the prime savers' two threads, test and server threads)
# gcc's sanitizer runtimes come with g++; nothing else is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-asan}
case $which in asan|tsan|all) ;; *) echo "usage: scripts/sanitize.sh [asan|tsan|all]" >&2; exit 2;; esac

source scripts/packages.sh
ensure_packages "${BASE_PACKAGES[@]}"
check_boost
jobs=${JOBS:-$(nproc)}

run() {  # run NAME SANITIZERS CTEST-ARGS...
  local name=$1 flags=$2; shift 2
  local dir=build-$name
  echo "sanitize: $name (-fsanitize=$flags) in $dir"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESTBED_SANITIZE="$flags" >/dev/null
  cmake --build "$dir" -j "$jobs" -- --no-print-directory 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$dir" -j "$jobs" --output-on-failure "$@"
}

[ "$which" = tsan ] || run asan address,undefined
[ "$which" = asan ] || run tsan thread

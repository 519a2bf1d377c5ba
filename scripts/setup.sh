#!/usr/bin/env bash
# Installs what is missing (Debian packages only), configures and builds.
# Both README commands call this; it is quick when everything is already there.
#   scripts/setup.sh [--plots] [--bench]
#     --plots  also python3-matplotlib (for benchmark.sh's pictures)
#     --bench  also wrk, nginx-light, hyperfine (for bench/ comparisons)
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

want_plots=0 want_bench=0
for arg in "$@"; do
  case "$arg" in
    --plots) want_plots=1 ;;
    --bench) want_bench=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

packages=(g++ cmake make libboost1.81-dev libboost-program-options1.81-dev
          libcurl4-openssl-dev nlohmann-json3-dev catch2 libsqlite3-dev sqlite3)
[ $want_plots = 1 ] && packages+=(python3 python3-matplotlib)
[ $want_bench = 1 ] && packages+=(wrk nginx-light hyperfine)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null
  # No recommends: python3-matplotlib recommends packages that pull Boost 1.74,
  # which conflicts with Boost 1.81 (apt would silently remove one of them).
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Check that both survived the install, instead of finding out at compile time.
grep -q 'define BOOST_VERSION 1081' /usr/include/boost/version.hpp 2>/dev/null ||
  { echo "setup: Boost 1.81 headers are missing (libboost1.81-dev)" >&2; exit 1; }
if [ $want_plots = 1 ]; then
  scripts/find-python.sh >/dev/null ||
    { echo "setup: no python3 can import matplotlib after installing python3-matplotlib" >&2; exit 1; }
fi

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j "$jobs" -- --no-print-directory 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
test -x "$build/delayserver" -a -x "$build/crawl" -a -x "$build/primes" ||
  { echo "setup: build failed" >&2; exit 1; }

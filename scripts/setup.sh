#!/usr/bin/env bash
# Installs what is missing (Debian packages only), configures and builds.
# Both README commands call this; it is quick when everything is already there.
#   scripts/setup.sh [--plots] [--browser] [--bench] [--nginx] [--mpi] [--python-models]
#     --plots    also python3-matplotlib and python3-plotly (benchmark.sh's pictures
#                and report.html, which inlines the plotly.js python3-plotly ships)
#     --python-models  also the libraries of the Python models (pycrawl/): one
#                that cannot be installed is named, and only its models fail
#     --browser  also chromium (the headless check of report.html in test.sh)
#     --bench  also wrk, nginx-light, hyperfine, valgrind, openssl (for bench/ comparisons)
#     --nginx  also nginx-light and openssl (the test of crawl --urls against nginx, over TLS)
#     --mpi    also Open MPI and iproute2 (crawl-mpi and its tests), and the build
#              then requires MPI
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."

want_plots=0 want_bench=0 want_browser=0 want_mpi=0 want_pymodels=0 want_nginx=0
for arg in "$@"; do
  case "$arg" in
    --plots) want_plots=1 ;;
    --python-models) want_pymodels=1 ;;
    --bench) want_bench=1 ;;
    --nginx) want_nginx=1 ;;
    --browser) want_browser=1 ;;
    --mpi) want_mpi=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

source scripts/packages.sh
packages=("${BASE_PACKAGES[@]}")
[ $want_plots = 1 ] && packages+=(python3 python3-matplotlib python3-plotly)
[ $want_browser = 1 ] && packages+=(python3 chromium)
[ $want_bench = 1 ] && packages+=(wrk nginx-light hyperfine valgrind openssl)
[ $want_nginx = 1 ] && packages+=(nginx-light openssl)
[ $want_mpi = 1 ] && packages+=("${MPI_PACKAGES[@]}")
ensure_packages "${packages[@]}"
# The Python models' libraries: without one, its models are recorded as
# failed (pycrawl/crawl.py names the package) and everything else runs.
if [ $want_pymodels = 1 ] && ! ensure_packages "${PYTHON_MODEL_PACKAGES[@]}"; then
  echo "setup: could not install ${PYTHON_MODEL_PACKAGES[*]}: the Python models that need a missing one will fail, saying which" >&2
fi

# Check that both survived the install, instead of finding out at compile time.
check_boost
if [ $want_plots = 1 ]; then
  scripts/find-python.sh >/dev/null ||
    { echo "setup: no python3 can import matplotlib after installing python3-matplotlib" >&2; exit 1; }
fi

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
# With --mpi the build must find MPI (a folder configured before Open MPI was
# installed looks again), so crawl-mpi and its tests cannot quietly go missing.
[ $want_mpi = 1 ] && cmake -S . -B "$build" -DTESTBED_REQUIRE_MPI=ON >/dev/null
cmake --build "$build" -j "$jobs" -- --no-print-directory 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
test -x "$build/delayserver" -a -x "$build/crawl" -a -x "$build/primes" ||
  { echo "setup: build failed" >&2; exit 1; }
[ $want_mpi = 0 ] || test -x "$build/crawl-mpi" || { echo "setup: crawl-mpi was not built" >&2; exit 1; }

#!/usr/bin/env bash
# The test command: install what is missing, build, run every test (CTest:
# the C++ tests, the shell tests against real servers, real mpirun ranks, and
# the reports of real runs opened in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --plots --browser --mpi --python-models --nginx
ctest --test-dir "${BUILD_DIR:-build}" -j "$(nproc)" --output-on-failure --timeout 600

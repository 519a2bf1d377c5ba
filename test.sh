#!/usr/bin/env bash
# The test command: install what is missing, build, run every test.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --plots --browser
ctest --test-dir "${BUILD_DIR:-build}" -j "$(nproc)" --output-on-failure --timeout 300
# The report of a real --quick run, opened in headless Chromium: no JavaScript
# errors, every chart drawn, and a screenshot to look at (report-screenshot.png).
run="${BUILD_DIR:-build}/report-check"
rm -rf "$run"
./benchmark.sh --quick --out "$run" >"$run.log" 2>&1 || { tail -20 "$run.log"; echo "test: benchmark.sh --quick failed (see $run.log)" >&2; exit 1; }
python3 scripts/check_report.py "$run" --min-charts 25

#!/usr/bin/env bash
# The test command: install what is missing, build, run every test.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --plots --browser --mpi
ctest --test-dir "${BUILD_DIR:-build}" -j "$(nproc)" --output-on-failure --timeout 300
# The report of a real --quick run, opened in headless Chromium: no JavaScript
# errors, every chart drawn, and a screenshot to look at (report-screenshot.png).
run="${BUILD_DIR:-build}/report-check"
rm -rf "$run"
./benchmark.sh --quick --out "$run" >"$run.log" 2>&1 || { tail -20 "$run.log"; echo "test: benchmark.sh --quick failed (see $run.log)" >&2; exit 1; }
python3 scripts/check_report.py "$run" --min-charts 25
# And the check can fail: the same page with its charts broken must not pass.
broken="${BUILD_DIR:-build}/report-broken"
rm -rf "$broken" && mkdir -p "$broken"
sed 's/Plotly\.newPlot(/Plotly.noSuchCall(/' "$run/report.html" >"$broken/report.html"
if python3 scripts/check_report.py "$broken" --min-charts 25 2>"$broken/why.txt"; then
  echo "test: check_report.py passed a report whose charts cannot be drawn" >&2; exit 1
fi
grep -q "not drawn" "$broken/why.txt" ||
  { cat "$broken/why.txt"; echo "test: check_report.py failed the broken report for another reason" >&2; exit 1; }
echo "test: check_report.py fails a broken report: $(head -1 "$broken/why.txt" | cut -c1-150)"

# A timeline big enough for WebGL traces (20,000 requests and more): a real
# crawl of 30,000, its report, and the same check.
big="${BUILD_DIR:-build}/report-big"
rm -rf "$big" && mkdir -p "$big"
(
  export BUILD_DIR="${BUILD_DIR:-build}"
  . scripts/lib.sh
  start_server BIG --timeline /dev/null --db "$big/primes.sqlite" >"$big/server.log" 2>&1
  trap 'stop_server "$BIG_PID"' EXIT
  s=$("$BUILD_DIR/crawl" --model coroutine --url "http://127.0.0.1:$BIG_PORT" --num 30000 \
      --concurrency 500 --delay 0 --timeline "$big/client-coroutine.csv" --json)
  printf '[%s]\n' "$s" >"$big/summary.json"
)
python3 plots/report.py "$big" >/dev/null
python3 scripts/check_report.py "$big" --min-charts 3 --min-webgl 2

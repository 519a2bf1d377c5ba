#!/usr/bin/env bash
# The main job: every concurrency model against a fresh delayserver, side by
# side in numbers and pictures. See README.md, or run with --help.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
Usage: ./benchmark.sh [--num N] [--delay MS] [--concurrency C] [--out DIR] [--quick] [--no-sweep]

Builds if needed, starts delayserver on a free loopback port, runs all five crawler
models (serial, threads, callback, coroutine, curl) with the same settings, flushes
the server timeline, runs the concurrency sweep, draws the plots and prints a table.

  --num N          URLs per model (default 500, as in the book)
  --delay MS       server delay per request (default 100)
  --concurrency C  requests in flight for the concurrent models (default 100)
  --out DIR        output folder (default: results/<date-time>/)
  --quick          small settings: the whole run takes well under two minutes
  --no-sweep       skip the concurrency sweep
USAGE
}

num=500 delay=100 conc=100 out="" quick=0 sweep=1
sweep_num=100 sweep_delays=50,100,250 sweep_conc=1,2,5,10,20,50,100,200,400
while [ $# -gt 0 ]; do
  case "$1" in
    --num) num=${2:?--num needs a value}; shift 2 ;;
    --delay) delay=${2:?--delay needs a value}; shift 2 ;;
    --concurrency) conc=${2:?--concurrency needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-sweep) sweep=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "benchmark.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$num" "$delay" "$conc"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "benchmark.sh: '$v' is not a non-negative integer" >&2; exit 2; }
done
if [ $quick = 1 ]; then
  num=200 delay=25 conc=50
  sweep_num=50 sweep_delays=10,25,50 sweep_conc=1,5,10,25,50,100
fi

export BUILD_DIR=${BUILD_DIR:-build}
scripts/setup.sh --plots
PY=$(scripts/find-python.sh)
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

out=${out:-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
echo "benchmark: writing to $out/"

SRV_PID=""
cleanup() { stop_server "$SRV_PID"; SRV_PID=""; }
trap cleanup EXIT
trap 'echo "benchmark: interrupted" >&2; exit 130' INT TERM

start_server SRV --timeline "$out/server-timeline.csv" --db "$out/primes.sqlite" \
  --max-delay-ms 600000 >"$out/server.log" 2>&1
url="http://127.0.0.1:$SRV_PORT"
echo "benchmark: delayserver pid $SRV_PID on $url"

failed=0
summaries=()
for model in serial threads callback coroutine curl; do
  echo "benchmark: $model: $num URLs, delay $delay ms, concurrency $conc"
  if ! "$BUILD_DIR/crawl" --model "$model" --url "$url" --num "$num" --delay "$delay" \
      --concurrency "$conc" --timeline "$out/client-$model.csv" --json --progress \
      >"$out/summary-$model.json"; then
    echo "benchmark: $model reported failures (see above)" >&2
    failed=1
  fi
  summaries+=("$(cat "$out/summary-$model.json")")
  rm -f "$out/summary-$model.json"
done
(IFS=,; printf '[%s]\n' "${summaries[*]}") >"$out/summary.json"
http_get "$SRV_PORT" '/add?flush=True' | sed 's/^/benchmark: server /'

if [ $sweep = 1 ]; then
  "$PY" bench/sweep.py --crawl "$BUILD_DIR/crawl" --url "$url" --num "$sweep_num" \
    --delays "$sweep_delays" --concurrency "$sweep_conc" --out "$out/sweep.csv" || failed=1
fi
cleanup

echo "benchmark: drawing plots"
"$PY" plots/plot_crawl.py "$out"
[ $sweep = 1 ] && "$PY" plots/plot_sweep.py "$out/sweep.csv" "$out/sweep.png"

echo
"$PY" plots/table.py "$out/summary.json"
echo
echo "benchmark: results in $out/ (summary.json, *.csv, *.png)"
exit $failed

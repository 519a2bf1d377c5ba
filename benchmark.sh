#!/usr/bin/env bash
# The main job: every concurrency model against a fresh delayserver, side by
# side in numbers and pictures. See README.md, or run with --help.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
Usage: ./benchmark.sh [--num N] [--delay MS] [--concurrency C] [--out DIR] [--quick] [--no-sweep]

Builds if needed, starts delayserver on a free loopback port, runs every crawler
model (`crawl --list-models`: serial first, then the concurrent ones) with the same settings, flushes
the server timeline, runs the concurrency sweep and the scale stage (every concurrent
model at C = 10, 100, 1,000 and 10,000), then the prime-saving client (batched and async
with timelines, and the primes sweep over max_number), then the tails stage (long-tailed
delays, the same for every model: each one's semaphore against the batched pattern, and
the prime savers against a database whose latency has the same tail), then the load stage
(every concurrent model in an open loop, requests due at a series of rates up to and past
what C slots can carry), draws the plots, writes manifest.json and report.html (the
whole run in one page: open it in a browser) and prints the tables.

  --num N          URLs per model (default 500, as in the book)
  --delay MS       server delay per request (default 100)
  --concurrency C  requests in flight for the concurrent models (default 100)
  --out DIR        output folder, new or empty (default: a new results/<date-time>/)
  --quick          small settings, the scale stage up to C=1,000: under two minutes
  --no-sweep       skip the concurrency sweep, the scale stage and the primes sweep
USAGE
}

command_line="./benchmark.sh${*:+ $*}"
num=500 delay=100 conc=100 out="" quick=0 sweep=1
sweep_num=100 sweep_delays=50,100,250 sweep_conc=1,2,5,10,20,50,100,200,400
scale_conc=10,100,1000,10000
tails=(--num 1000 --concurrency 100 --delay 100 --dist lognormal:sigma=0.6)
tails_dist=lognormal:sigma=0.6
load=(--rates 200,400,600,800,900,1000,1100,1200 --concurrency 100 --delay 100 --duration 2)
primes_sweep=(--min-exp 7 --max-exp 14 --serial-max-exp 10 --extend-exp 17 --extend-modes noio,async)
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
  scale_conc=10,100,1000
  tails=(--num 400 --concurrency 50 --delay 25 --dist lognormal:sigma=0.6)
  load=(--rates 500,1000,1500,2000,2500 --concurrency 50 --delay 25 --duration 1)
  primes_sweep=(--min-exp 7 --max-exp 12 --serial-max-exp 8 --extend-exp 14 --extend-modes noio,async)
fi

export BUILD_DIR=${BUILD_DIR:-build}
scripts/setup.sh --plots
PY=$(scripts/find-python.sh)
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# A results folder belongs to one run: a given --out must be new or empty (a
# past run's files would show in this run's report and manifest), and the
# default one is made with mkdir, which two runs started in the same second
# cannot both win.
if [ -n "$out" ]; then
  if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    echo "benchmark.sh: --out $out is not empty (a past run's files would show in this run's report): name a new folder, or remove it first" >&2
    exit 2
  fi
  mkdir -p "$out"
else
  mkdir -p results
  base=results/$(date +%Y%m%d-%H%M%S) out=$base n=1
  until mkdir "$out" 2>/dev/null; do out=$base-$n; n=$((n + 1)); done
fi
echo "benchmark: writing to $out/"

SRV_PID=""
cleanup() { stop_server "$SRV_PID"; SRV_PID=""; }
trap cleanup EXIT
# Any signal that ends the run ends everything it started (a closed terminal's
# SIGHUP too): a stage left running would crawl a stopped server and write a
# stage of failures into the folder.
on_signal() {
  echo "benchmark: $1: stopping the run and everything it started" >&2
  trap - HUP INT TERM
  kill_tree $$ TERM
  cleanup
  exit $((128 + $2))
}
trap 'on_signal SIGHUP 1' HUP
trap 'on_signal SIGINT 2' INT
trap 'on_signal SIGTERM 15' TERM
# stage CMD...: runs a long stage as a child the script waits for, so a
# signal is acted on at once (bash runs a trap only between commands).
stage() { "$@" & wait $!; }

# A fixed seed: the tails stage's delays (drawn from it and each URL) are the
# same from one run to the next.
start_server SRV --timeline "$out/server-timeline.csv" --db "$out/primes.sqlite" \
  --max-delay-ms 600000 --seed 2026 >"$out/server.log" 2>&1
url="http://127.0.0.1:$SRV_PORT"
echo "benchmark: delayserver pid $SRV_PID on $url"

# json_array FILE OBJECT...: writes the JSON objects as one JSON array.
json_array() { local file=$1; shift; (IFS=,; printf '[%s]\n' "$*") >"$file"; }

failed=0
summaries=()
# The one list of models is crawl's own table.
mapfile -t models < <("$BUILD_DIR/crawl" --list-models)
for model in "${models[@]}"; do
  echo "benchmark: $model: $num URLs, delay $delay ms, concurrency $conc"
  s=$("$BUILD_DIR/crawl" --model "$model" --url "$url" --num "$num" --delay "$delay" \
      --concurrency "$conc" --timeline "$out/client-$model.csv" --json --progress) ||
    { echo "benchmark: $model reported failures (see above)" >&2; failed=1; }
  [ -n "$s" ] && summaries+=("$s")
done
json_array "$out/summary.json" "${summaries[@]}"
http_get "$SRV_PORT" '/add?flush=True' | sed 's/^/benchmark: server /'

if [ $sweep = 1 ]; then
  stage "$PY" bench/sweep.py --crawl "$BUILD_DIR/crawl" --url "$url" --num "$sweep_num" \
    --delays "$sweep_delays" --concurrency "$sweep_conc" --out "$out/sweep.csv" || failed=1
fi

if [ $sweep = 1 ]; then
  echo "benchmark: scale: every concurrent model at C = $scale_conc, N = 2C, delay 100 ms"
  stage "$PY" bench/scale.py --crawl "$BUILD_DIR/crawl" --url "$url" --concurrency "$scale_conc" \
    --out "$out/scale.csv" || failed=1
fi

# The savers that keep computing while they save (primes --list-modes: those
# that save, but not one prime at a time): batched and async.
mapfile -t saver_modes < <("$PY" -c 'import json,sys; [print(m["name"]) for m in json.load(sys.stdin)
                                     if m["saves"] and not m["one_at_a_time"]]' \
                           < <("$BUILD_DIR/primes" --list-modes --json))
# primes_pair URL PREFIX: those savers at max_number 8192, writing
# PREFIX-<mode>.csv and PREFIX-summary.json.
primes_pair() {
  local url=$1 prefix=$2 mode s runs=()
  for mode in "${saver_modes[@]}"; do
    echo "benchmark: $(basename "$prefix"): primes --mode $mode --max-number 8192"
    s=$("$BUILD_DIR/primes" --mode "$mode" --max-number 8192 --url "$url" \
        --timeline "$prefix-$mode.csv" --json) ||
      { echo "benchmark: primes $mode lost saves (see above)" >&2; failed=1; }
    [ -n "$s" ] && runs+=("$s")
  done
  json_array "$prefix-summary.json" "${runs[@]}"
}

# The second half of the chapter: primes saved to the server's SQLite database.
primes_pair "$url" "$out/primes"
if [ $sweep = 1 ]; then
  stage "$PY" bench/primes_sweep.py --primes "$BUILD_DIR/primes" --url "$url" "${primes_sweep[@]}" \
    --out "$out/primes-sweep.csv" || failed=1
fi
cleanup

# Long tails: a server whose saves take lognormal latencies (median 50 ms), and
# crawls that ask for lognormal delays; every draw is a function of the seed
# and the URL (or the prime), so every model meets the same delays.
echo "benchmark: tails: ${tails[*]}, every concurrent model, and the batched pattern"
start_server SRV --timeline "$out/tails-server-timeline.csv" --db "$out/tails-primes.sqlite" \
  --seed 2026 --db-latency-dist "$tails_dist" >"$out/tails-server.log" 2>&1
stage "$PY" bench/tails.py --crawl "$BUILD_DIR/crawl" --url "http://127.0.0.1:$SRV_PORT" "${tails[@]}" \
  --out-dir "$out" || failed=1
primes_pair "http://127.0.0.1:$SRV_PORT" "$out/tails-primes"  # save latency $tails_dist
cleanup

# Open loop: requests due at each offered rate whatever the answers do.
echo "benchmark: load: ${load[*]}, every concurrent model"
start_server SRV --timeline "$out/load-server-timeline.csv" --db "$out/load-primes.sqlite" \
  >"$out/load-server.log" 2>&1
stage "$PY" bench/load.py --crawl "$BUILD_DIR/crawl" --url "http://127.0.0.1:$SRV_PORT" "${load[@]}" \
  --out-dir "$out" || failed=1
cleanup
rm -f "$out/load-primes.sqlite"  # no saves in this stage

echo "benchmark: drawing plots"
"$PY" plots/plot_crawl.py "$out"
saver_csvs=("${saver_modes[@]/%/.csv}")  # batched.csv async.csv
"$PY" plots/plot_primes.py callgraph "$out/primes-callgraph.png" "${saver_csvs[@]/#/$out/primes-}"
"$PY" plots/plot_tails.py "$out"
"$PY" plots/plot_load.py "$out"
"$PY" plots/plot_primes.py callgraph "$out/tails-primes.png" "${saver_csvs[@]/#/$out/tails-primes-}"
if [ $sweep = 1 ]; then
  "$PY" plots/plot_sweep.py "$out/sweep.csv" "$out/sweep.png"
  "$PY" plots/plot_scale.py "$out/scale.csv" "$out/scale.png" --order "$(IFS=,; echo "${models[*]}")"
  "$PY" plots/plot_primes.py sweep "$out/primes-sweep.csv" "$out/primes.png"
fi
# Last, so that its list of files is the whole run.
"$PY" bench/manifest.py --dir "$out" --build "$BUILD_DIR" --command "$command_line" --server-seed 2026 \
  --pinned no --stage-seed sweep=2026 --stage-seed scale=2026
"$PY" plots/report.py "$out"

echo
"$PY" bench/table.py "$out/summary.json"
echo
"$PY" bench/table.py "$out/primes-summary.json"
echo
"$PY" bench/table.py "$out/tails-summary.json"
echo
"$PY" bench/table.py "$out/tails-primes-summary.json"
echo
echo "benchmark: results in $out/ (summary.json, *.csv, *.png); open $out/report.html"
exit $failed

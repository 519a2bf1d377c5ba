#!/usr/bin/env bash
# The main job: every concurrency model against a fresh delayserver, side by
# side in numbers and pictures. See README.md, or run with --help.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
Usage: ./benchmark.sh [--stages LIST] [--quick] [--num N] [--delay MS] [--concurrency C] [--out DIR]

Builds if needed, then runs the stages of LIST (default: all, in the order below),
each against a fresh delayserver of its own on a free loopback port; then draws
the plots, writes manifest.json and report.html (the whole run in one page: open
it in a browser) and prints the tables. Every stage leaves STAGE-summary.json
(its settings, its seed, every run's JSON) beside its rows.

  --stages LIST    a comma-separated subset of the stages below
  --quick          every stage's small settings (--quick: below): under two minutes
  --num N          URLs per model in the crawl stage
  --delay MS       server delay per request in the crawl stage
  --concurrency C  requests in flight for the concurrent models in the crawl stage
  --out DIR        output folder, new or empty (default: a new results/<date-time>/)
  --no-sweep       the stages but sweep, scale and primes-sweep

The stages (bench/stages.py) and their settings:
USAGE
  python3 bench/stages.py list 2>/dev/null ||
    echo "  (bench/stages.py lists them once python3 is installed: run ./benchmark.sh once)"
}

command_line="./benchmark.sh${*:+ $*}"
out="" quick=() only="" skip="" crawl_set=()
while [ $# -gt 0 ]; do
  case "$1" in
    --num) crawl_set+=(--set "num=${2:?--num needs a value}"); shift 2 ;;
    --delay) crawl_set+=(--set "delay_ms=${2:?--delay needs a value}"); shift 2 ;;
    --concurrency) crawl_set+=(--set "concurrency=${2:?--concurrency needs a value}"); shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    --stages) only=${2:?--stages needs a list}; shift 2 ;;
    --no-sweep) skip=sweep,scale,primes-sweep; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "benchmark.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for ((k = 1; k < ${#crawl_set[@]}; k += 2)); do
  v=${crawl_set[k]#*=}
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "benchmark.sh: '$v' is not a non-negative integer" >&2; exit 2; }
done
export BUILD_DIR=${BUILD_DIR:-build}
scripts/setup.sh --plots --python-models
PY=$(scripts/find-python.sh)
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# The stages to run, checked against the table before the folder is made.
stage_list=$("$PY" bench/stages.py select ${only:+"$only"} --skip "$skip") || exit 2
mapfile -t stages <<<"$stage_list"
if [ ${#crawl_set[@]} -gt 0 ] && [[ " ${stages[*]} " != *" crawl "* ]]; then
  echo "benchmark.sh: --num, --delay and --concurrency set the crawl stage, which --stages leaves out" >&2
  exit 2
fi

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

# Any signal that ends the run ends everything it started (a closed terminal's
# SIGHUP too): a stage left running would crawl a stopped server and write a
# stage of failures into the folder.
on_signal() {
  echo "benchmark: $1: stopping the run and everything it started" >&2
  trap - HUP INT TERM
  kill_tree $$ TERM
  wait  # for the stage, which stops its server and writes what it measured
  exit $((128 + $2))
}
trap 'on_signal SIGHUP 1' HUP
trap 'on_signal SIGINT 2' INT
trap 'on_signal SIGTERM 15' TERM
# stage CMD...: runs a long stage as a child the script waits for, so a
# signal is acted on at once (bash runs a trap only between commands).
stage() { "$@" & wait $!; }

failed=0
for st in "${stages[@]}"; do
  echo "benchmark: stage $st"
  set_args=()
  [ "$st" = crawl ] && set_args=("${crawl_set[@]}")
  stage "$PY" bench/stages.py run "$st" --out "$out" --build "$BUILD_DIR" "${quick[@]}" "${set_args[@]}" ||
    { echo "benchmark: stage $st failed (see above; what it measured is in $out)" >&2; failed=1; }
done

echo "benchmark: drawing plots"
"$PY" plots/draw.py "$out"
# Last, so that its list of files is the whole run.
"$PY" bench/manifest.py --dir "$out" --build "$BUILD_DIR" --command "$command_line" --pinned no
"$PY" plots/report.py "$out"
"$PY" bench/table.py "$out"
echo "benchmark: results in $out/ (STAGE-summary.json, *.csv, *.png); open $out/report.html"
exit $failed

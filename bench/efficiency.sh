#!/usr/bin/env bash
# Efficiency of the concurrent models: N URLs at concurrency C with delay D
# against one fresh delayserver; prints each model's time and ideal/measured.
#   bench/efficiency.sh [N] [C] [DELAY_MS] [ROUNDS]   (default 1000 100 100 3)
set -euo pipefail
cd "$(dirname "$0")/.."
num=${1:-1000} conc=${2:-100} delay=${3:-100} rounds=${4:-3}
export BUILD_DIR=${BUILD_DIR:-build}
scripts/setup.sh
. scripts/lib.sh
tmp=$(mktemp -d)
SRV_PID=""
trap 'stop_server "$SRV_PID"; rm -rf "$tmp"' EXIT
start_server SRV --timeline "$tmp/timeline.csv" >/dev/null
ideal=$(awk -v n="$num" -v c="$conc" -v d="$delay" 'BEGIN { printf "%.3f", int((n + c - 1) / c) * d / 1000 }')
printf '%-10s %5s %9s %9s %10s\n' model round seconds ideal efficiency
for r in $(seq 1 "$rounds"); do
  for m in threads callback coroutine curl; do
    s=$("$BUILD_DIR/crawl" --model "$m" --url "http://127.0.0.1:$SRV_PORT" --num "$num" \
          --delay "$delay" --concurrency "$conc")
    secs=$(printf '%s' "$s" | sed -n 's/.*Time: \([0-9.]*\).*/\1/p')
    awk -v m="$m" -v r="$r" -v s="$secs" -v i="$ideal" \
      'BEGIN { printf "%-10s %5d %9.3f %9.3f %9.1f%%\n", m, r, s, i, 100 * i / s }'
  done
done

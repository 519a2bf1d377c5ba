#!/usr/bin/env bash
# benchmark.sh interrupted or run twice, for real:
#   - SIGHUP (a closed terminal) in the middle of a stage ends the whole
#     process tree: no stage goes on crawling a stopped server;
#   - a non-empty --out is refused, and left as it was;
#   - two runs started at once get a results folder each.
#   tests/benchmark_signals_test.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD_DIR
BUILD_DIR=$(cd "$1" && pwd)
source "$ROOT/scripts/lib.sh"
WORK=$(mktemp -d)
STARTED=()
cleanup() {
  local p
  for p in "${STARTED[@]}"; do kill_tree "$p" KILL; kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$ROOT"

# wait_for FILE TEXT SECONDS: until FILE holds TEXT.
wait_for() {
  local i
  for i in $(seq 1 $(($3 * 10))); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL: '$2' did not appear in $1 within $3 s" >&2
  tail -5 "$1" >&2
  exit 1
}

# 1. SIGHUP in the middle of the sweep stage.
./benchmark.sh --quick --out "$WORK/run" >"$WORK/run.log" 2>&1 &
pid=$!
STARTED+=("$pid")
wait_for "$WORK/run.log" "sweep: 2/" 120
tree=$(descendants "$pid" | tr '\n' ' ')
[ -n "$tree" ] || { echo "FAIL: benchmark.sh has no processes under it mid-stage" >&2; exit 1; }
kill -HUP "$pid"
rc=0
for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && { echo "FAIL: benchmark.sh still runs 15 s after SIGHUP" >&2; exit 1; }
wait "$pid" || rc=$?
[ "$rc" = 129 ] || { tail -5 "$WORK/run.log" >&2; echo "FAIL: exit status $rc after SIGHUP, not 129" >&2; exit 1; }
sleep 0.5
alive=""
for p in $tree; do
  # Alive and still one of ours (a PID reused since would have another parent chain).
  [ -d "/proc/$p" ] && alive+="$p($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-60)) "
done
[ -z "$alive" ] || { echo "FAIL: left running after SIGHUP: $alive" >&2; exit 1; }
grep -q "SIGHUP: stopping the run" "$WORK/run.log" || { echo "FAIL: it did not say why it stopped" >&2; exit 1; }
echo "ok: SIGHUP mid-stage ended benchmark.sh (exit 129) and all $(echo $tree | wc -w) processes under it"

# 2. A non-empty --out is refused and left as it was.
mkdir -p "$WORK/used" && echo "a past run" >"$WORK/used/crawl-summary.json"
rc=0
./benchmark.sh --quick --out "$WORK/used" >"$WORK/used.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "is not empty" "$WORK/used.log" && [ "$(cat "$WORK/used/crawl-summary.json")" = "a past run" ] &&
  [ "$(ls "$WORK/used")" = crawl-summary.json ] ||
  { cat "$WORK/used.log" >&2; echo "FAIL: a non-empty --out was not refused (exit $rc)" >&2; exit 1; }
echo "ok: a non-empty --out is refused: $(grep 'is not empty' "$WORK/used.log" | cut -c1-90)"

# 3. Two runs at once, default folders: one each.
a_pid="" b_pid=""
./benchmark.sh --quick >"$WORK/a.log" 2>&1 &
a_pid=$!
STARTED+=("$a_pid")
./benchmark.sh --quick >"$WORK/b.log" 2>&1 &
b_pid=$!
STARTED+=("$b_pid")
wait_for "$WORK/a.log" "benchmark: writing to" 120
wait_for "$WORK/b.log" "benchmark: writing to" 120
kill -TERM "$a_pid" "$b_pid"
wait "$a_pid" || true
wait "$b_pid" || true
a=$(sed -n 's/^benchmark: writing to \(.*\)\/$/\1/p' "$WORK/a.log")
b=$(sed -n 's/^benchmark: writing to \(.*\)\/$/\1/p' "$WORK/b.log")
rm -rf "${a:?}" "${b:?}"
[ "$a" != "$b" ] || { echo "FAIL: two runs share the results folder $a" >&2; exit 1; }
echo "ok: two runs at once write to $a and $b"

#!/usr/bin/env bash
# report.html from a hostile results folder (a colleague's run, a CI
# artifact), opened in real headless Chromium: scripts smuggled into the
# summaries, the manifest or a file name must not run, links stay in the
# folder, and a name that is not UTF-8 or a dangling link is named, not a crash.
#   tests/report_hostile_test.sh BUILD_DIR
# Exit 77 (CTest: skipped) when chromium or plotly is not installed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$1" && pwd)
PY=$("$ROOT/scripts/find-python.sh" 2>/dev/null) || { echo "SKIP: no python3 with matplotlib"; exit 77; }
command -v chromium >/dev/null || { echo "SKIP: chromium is not installed (scripts/setup.sh --browser)"; exit 77; }
[ -f /usr/share/python3-plotly/plotly.js ] || { echo "SKIP: python3-plotly is not installed"; exit 77; }
source "$ROOT/scripts/lib.sh"
WORK=$(mktemp -d)
trap 'stop_server "${S_PID:-}"; rm -rf "$WORK"' EXIT
DIR=$WORK/run
mkdir -p "$DIR"

# A real run to start from, so that the page has charts to draw.
start_server S --timeline /dev/null --db "$WORK/p.sqlite" >/dev/null 2>&1
"$BUILD_DIR/crawl" --model coroutine --url "http://127.0.0.1:$S_PORT" --num 50 --delay 5 --concurrency 10 \
  --json --timeline "$DIR/client-coroutine.csv" >"$WORK/s.json"

# The payloads: each would set window.__pwned if it ran.
"$PY" - "$WORK/s.json" "$DIR" <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
out = sys.argv[2]
script = "</script><script>window.__pwned=1</script>"
img = "<img src=x onerror=\"window.__pwned=2\">"
s["name"] = script
s["delay_dist"] = img
s["concurrency"] = img  # a number's place, given text
s["errors"] = {script: 1}
json.dump({"stage": "crawl", "title": script, "settings": {"num": img, "delay_ms": script, "concurrency": 10},
           "seed": img, "models": [{"name": "coroutine", "one_in_flight": False}], "runs": [s]},
          open(os.path.join(out, "crawl-summary.json"), "w"))
json.dump({"date": img, "command": script, "cpu": "<svg onload=window.__pwned=3>",
           "stages": [{"stage": script, "seed": img, "run_seeds": [img]}],
           "programs": {script: {"version": img, "built_with": script}}},
          open(os.path.join(out, "manifest.json"), "w"))
open(os.path.join(out, "javascript:window.__pwned=4"), "w").write("x")
open(os.path.join(out.encode(), b"not-utf8-\xff\xfe.csv"), "w").write("x")
os.symlink("/nowhere/at/all", os.path.join(out, "dangling.csv"))
open(os.path.join(out, "tails-summary.json"), "w").write("{ not json")
PY

"$PY" "$ROOT/plots/report.py" "$DIR" >/dev/null
html=$DIR/report.html
if grep -q '<script>window.__pwned' "$html"; then
  echo "FAIL: the page holds a script from the folder" >&2; exit 1
fi
grep -q 'dangling.csv' "$html" && grep -q 'cannot be read' "$html" ||
  { echo "FAIL: the dangling link is not named as unreadable" >&2; exit 1; }
grep -q 'not UTF-8' "$html" || { echo "FAIL: the name that is not UTF-8 is not named" >&2; exit 1; }
grep -q 'tails-summary.json.*not drawn' "$html" ||
  { echo "FAIL: the unreadable tails-summary.json is not named" >&2; exit 1; }
"$PY" "$ROOT/scripts/check_report.py" "$DIR" --min-charts 2 --forbid-global __pwned
echo "ok: a hostile folder's report runs none of its scripts and links only within the folder"

# A full disk: manifest.py fails and leaves the manifest that was there (never
# 0 bytes), so the folder can still be drawn. A small tmpfs is the full disk.
FULL=$WORK/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=64k tmpfs "$FULL" 2>/dev/null; then
  trap 'umount "$FULL" 2>/dev/null; stop_server "${S_PID:-}"; rm -rf "$WORK"' EXIT
  echo '{"command": "the run before"}' >"$FULL/manifest.json"
  dd if=/dev/zero of="$FULL/filler" bs=1k count=64 2>/dev/null || true  # fills it
  if "$PY" "$ROOT/bench/manifest.py" --dir "$FULL" --build "$BUILD_DIR" --command "./benchmark.sh" 2>/dev/null; then
    echo "FAIL: manifest.py said it wrote a manifest to a full disk" >&2; exit 1
  fi
  [ "$(cat "$FULL/manifest.json")" = '{"command": "the run before"}' ] ||
    { echo "FAIL: a full disk left manifest.json as: $(head -c 80 "$FULL/manifest.json")" >&2; exit 1; }
  ls "$FULL" | grep -q '\.tmp$' && { echo "FAIL: a temporary file was left behind" >&2; exit 1; }
  echo "ok: on a full disk manifest.py fails and the manifest before it stays whole"
else
  echo "note: no tmpfs could be mounted here, so the full-disk check did not run"
fi

#!/usr/bin/env bash
# report.html opened in real headless Chromium (scripts/check_report.py): no
# JavaScript errors and every chart drawn.
#   tests/report_check_test.sh BUILD_DIR quick
#       the report of a real `benchmark.sh --quick` run, with a screenshot to
#       look at (BUILD_DIR/report-check/report-screenshot.png); then the same
#       page with its charts broken, which the check must fail
#   tests/report_check_test.sh BUILD_DIR big
#       a real crawl of 30,000 requests, big enough for WebGL traces (20,000
#       and more), its report and the same check
# Exit 77 (CTest: skipped) when chromium or plotly is not installed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BUILD_DIR
BUILD_DIR=$(cd "$1" && pwd)
PY=$("$ROOT/scripts/find-python.sh" 2>/dev/null) || { echo "SKIP: no python3 with matplotlib"; exit 77; }
command -v chromium >/dev/null || { echo "SKIP: chromium is not installed (scripts/setup.sh --browser)"; exit 77; }
[ -f /usr/share/python3-plotly/plotly.js ] || { echo "SKIP: python3-plotly is not installed"; exit 77; }
cd "$ROOT"

case "${2:-}" in
quick)
  run=$BUILD_DIR/report-check
  rm -rf "$run"
  ./benchmark.sh --quick --out "$run" >"$run.log" 2>&1 ||
    { tail -20 "$run.log"; echo "FAIL: benchmark.sh --quick failed (see $run.log)" >&2; exit 1; }
  "$PY" scripts/check_report.py "$run" --min-charts 55
  # Every stage left its summary, with its settings and seed, and the
  # manifest's seeds are the summaries'.
  "$PY" - "$run" <<'PY'
import json, os, sys
sys.path.insert(0, "bench")
import runfolder
run = sys.argv[1]
manifest = json.load(open(os.path.join(run, runfolder.MANIFEST)))
seeds = {s["stage"]: s["seed"] for s in manifest["stages"]}
for stage in runfolder.STAGE_NAMES:
    s = runfolder.read_summary(run, stage)
    assert s is not None, f"no {runfolder.summary_name(stage)}"
    assert s["settings"] and s["seed"] is not None and s["runs"], f"{stage}: settings, seed or runs missing"
    assert seeds[stage] == s["seed"], f"{stage}: the manifest's seed {seeds[stage]} is not the summary's"
print(f"ok: {len(runfolder.STAGE_NAMES)} stage summaries, each with its settings and seed, as the manifest says")
# What each process spent, drawn: a strips chart under every crawl-stage
# chronology and one per model at the scale stage's largest C, each with the
# client's series and the server's; and the spike stage's section.
page = open(os.path.join(run, runfolder.REPORT), encoding="utf-8").read()
at = page.index("var CHARTS=") + len("var CHARTS=")
charts = json.JSONDecoder().raw_decode(page[at:])[0]
kinds = [c["kind"] for c in charts]
models = [r["model"] for r in runfolder.read_summary(run, "crawl")["runs"]]
after = [kinds[k + 1] for k, kind in enumerate(kinds[:-1]) if kind == "chronology"][:len(models)]
assert after == ["strips"] * len(models), f"the crawl stage's chronologies are followed by {after}"
strips = [c["spec"] for c in charts if c["kind"] == "strips"]
scale = runfolder.read_summary(run, "scale")
concurrent = len({r["model"] for r in scale["runs"] if r.get("concurrency") == max(scale["settings"]["concurrency"])
                  and "seconds" in r})
assert len(strips) == len(models) + concurrent, (len(strips), len(models), concurrent)
for s in strips:
    titles = [p["title"] for p in s["panels"]]
    assert titles == ["CPU %", "RSS MiB", "threads", "fds", "connections"], titles
    for p in s["panels"][:3] + s["panels"][4:]:  # fds may be too dear to count in a short run
        assert [x["name"] for x in p["series"]] == ["client", "server"], (p["title"], [x["name"] for x in p["series"]])
assert 'id="spike"' in page and 'id="connect-storm"' in page
# The stealing stage: every pool model of the table beside the loops, at each
# lane count, with each work; with work, each thread's share of it.
stealing = runfolder.read_summary(run, "stealing")
pools = [m["name"] for m in stealing["models"] if m.get("pool")]
assert pools, "the model table has a pool model"
lanes, works = stealing["settings"]["lanes"], stealing["settings"]["work"]
for m in pools:
    for n in lanes:
        for w in works:
            mine = [r for r in stealing["runs"] if r["model"] == m and r.get("threads") == n and r["work_spec"] == w]
            assert len(mine) == 1 and mine[0]["failed"] == 0, (m, n, w, len(mine))
            if w != "none":
                assert len(mine[0]["work"]["by_worker"]) == n, (m, n, mine[0]["work"]["by_worker"])
assert 'id="stealing"' in page
print(f"ok: {len(strips)} resource strips ({len(models)} under the chronologies, {concurrent} of the connect storm), "
      f"the spike section, the stealing section ({', '.join(pools)} on {lanes} threads)")
PY
  # And the check can fail: the same page with its charts broken must not pass.
  broken=$BUILD_DIR/report-broken
  rm -rf "$broken" && mkdir -p "$broken"
  sed 's/Plotly\.newPlot(/Plotly.noSuchCall(/' "$run/report.html" >"$broken/report.html"
  if "$PY" scripts/check_report.py "$broken" --min-charts 33 2>"$broken/why.txt"; then
    echo "FAIL: check_report.py passed a report whose charts cannot be drawn" >&2; exit 1
  fi
  grep -q "not drawn" "$broken/why.txt" ||
    { cat "$broken/why.txt"; echo "FAIL: check_report.py failed the broken report for another reason" >&2; exit 1; }
  echo "ok: check_report.py fails a broken report: $(head -1 "$broken/why.txt" | cut -c1-150)"
  ;;
big)
  big=$BUILD_DIR/report-big
  rm -rf "$big" && mkdir -p "$big"
  # One model (each chart of 20,000 requests or more takes a WebGL context,
  # of the 16 a page may have), written as the crawl stage writes its summary.
  "$PY" - "$big" "$BUILD_DIR" <<'PY'
import os, sys
sys.path.insert(0, "bench")
import runfolder
from runner import Delayserver, list_models, run_json
out, build = sys.argv[1], sys.argv[2]
settings = {"num": 30000, "delay_ms": 0, "concurrency": 500}
with Delayserver(os.path.join(build, "delayserver"), ["--timeline", os.path.join(out, "t.csv"),
                                                      "--db", os.path.join(out, "p.sqlite")]) as srv:
    s, rc, err = run_json([os.path.join(build, "crawl"), "--model", "coroutine", "--url", srv.url,
                           "--num", "30000", "--concurrency", "500", "--delay", "0", "--seed", "2026",
                           "--timeline", os.path.join(out, runfolder.client_timeline_name("coroutine")), "--json"],
                          "crawl")
assert rc == 0 and s["failed"] == 0, err
runfolder.write_summary(out, "crawl", settings, 2026, [s], models=list_models(os.path.join(build, "crawl")))
PY
  "$PY" plots/report.py "$big" >/dev/null
  "$PY" scripts/check_report.py "$big" --min-charts 3 --min-webgl 2
  ;;
*)
  echo "usage: tests/report_check_test.sh BUILD_DIR quick|big" >&2; exit 2 ;;
esac

#!/usr/bin/env python3
"""The scale stage: every concurrent model (crawl --list-models) at each
concurrency C, with N = a small multiple of C and a fixed delay, against a
running delayserver. Where a model cannot run a point (not enough threads,
open files or memory), the point is recorded as failed with the reason and the
run goes on. Writes one CSV row per point:
    model,concurrency,num,delay_ms,seconds,ideal_seconds,efficiency,cpu_ms_per_1k,
    peak_rss_kib,peak_threads,connections_opened,failed,error
Every figure is crawl's own (--json). Standard library only; plots/plot_scale.py
draws the CSV.
"""
import argparse
import csv
import json
import subprocess
import sys

from runner import Progress, int_list, list_models

FIELDS = ["model", "concurrency", "num", "delay_ms", "seconds", "ideal_seconds", "efficiency", "cpu_ms_per_1k",
          "peak_rss_kib", "peak_threads", "connections_opened", "failed", "error"]


def run_point(crawl, url, model, conc, num, delay, timeout, seed):
    """One crawl; a row, with the reason in `error` when it did not complete."""
    row = {"model": model, "concurrency": conc, "num": num, "delay_ms": delay, "error": ""}
    argv = [crawl, "--model", model, "--url", url, "--num", str(num), "--concurrency", str(conc),
            "--delay", str(delay), "--seed", str(seed), "--name", f"scale-{model}", "--json"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        row.update(failed=num, error=f"no result within {timeout} s")
        return row
    lines = p.stdout.strip().splitlines()
    try:
        s = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        s = None
    if s is None:  # refused up front (exit 2) or died: the reason is on stderr
        reason = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        row.update(failed=num, error=reason)
        return row
    cost = s["cost"]
    row.update(seconds=f"{s['seconds']:.6f}", ideal_seconds=f"{s['ideal_seconds']:.6f}",
               efficiency="" if s["efficiency"] is None else f"{s['efficiency']:.6f}", cpu_ms_per_1k=f"{cost['cpu_ms_per_1k']:.3f}",
               peak_rss_kib=cost["peak_rss_kib"], peak_threads=cost["peak_threads"],
               connections_opened=cost["connections_opened"], failed=s["failed"])
    if s["failed"]:
        row["error"] = s.get("stopped_early") or "; ".join(f"{n} x {msg}" for msg, n in s["errors"].items())
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="delayserver base URL")
    ap.add_argument("--crawl", default="build/crawl", help="path to the crawl binary")
    ap.add_argument("--concurrency", type=int_list, default=[10, 100, 1000, 10000])
    ap.add_argument("--multiple", type=int, default=2, help="N = this many times C (default 2)")
    ap.add_argument("--delay", type=int, default=100, help="server delay, ms (default 100)")
    ap.add_argument("--seed", type=int, default=2026, help="crawl --seed for every point (default 2026)")
    ap.add_argument("--timeout", type=int, default=120, help="seconds one point may take")
    ap.add_argument("--out", required=True, help="CSV file to write")
    args = ap.parse_args()
    models = [m["name"] for m in list_models(args.crawl, concurrent=True)]
    points = [(m, c) for c in args.concurrency for m in models]
    progress = Progress("scale", len(points))
    failed_points = 0
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for k, (model, conc) in enumerate(points, 1):
            row = run_point(args.crawl, args.url, model, conc, args.multiple * conc, args.delay, args.timeout,
                            args.seed)
            w.writerow(row)
            f.flush()
            failed_points += bool(row["error"])
            what = row["error"] or f"{float(row['seconds']):.3f} s, efficiency {float(row['efficiency']):.3f}"
            progress.step(k, f"{model} C={conc}: {what}")
    progress.done()
    if failed_points:
        print(f"scale: {failed_points} points did not complete (see the error column)", file=sys.stderr)
    return 0  # a point a model cannot run is a result, not a failure of the stage


if __name__ == "__main__":
    sys.exit(main())

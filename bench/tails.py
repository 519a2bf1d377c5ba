#!/usr/bin/env python3
"""The tails stage: the same N, C and long-tailed delays (the server draws each
URL's delay from its seed, so every run meets exactly the same ones) for every
concurrent model with its semaphore, and for every event-loop model in the
batched pattern (--batched: fire C, wait for all C, fire the next C, as the
book's AsyncBatcher does). Writes, into --out-dir:
    tails-<model>.csv, tails-<model>-batched.csv   the client timelines
    tails-summary.json                              every run's crawl --json summary
    tails.csv                                       one row per run:
        model,pattern,num,concurrency,delay_ms,delay_dist,seconds,ideal_seconds,efficiency,
        batched_ideal_seconds,latency_p50_ms,latency_p99_ms,failed
Every figure is crawl's own (--json): the ideal is a perfect semaphore's time
with the delays the server gave. Standard library only; plots/plot_tails.py
draws the picture.
"""
import argparse
import os
import sys

from runner import Progress, write_results, list_models, run_json

FIELDS = ["model", "pattern", "num", "concurrency", "delay_ms", "delay_dist", "seconds", "ideal_seconds",
          "efficiency", "batched_ideal_seconds", "latency_p50_ms", "latency_p99_ms", "failed"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="delayserver base URL")
    ap.add_argument("--crawl", default="build/crawl", help="path to the crawl binary")
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--delay", type=int, default=100, help="the delays' median, ms (default 100)")
    ap.add_argument("--dist", default="lognormal:sigma=0.6", help="crawl --delay-dist (default %(default)s)")
    ap.add_argument("--seed", type=int, default=2026, help="crawl --seed: the URLs, hence the delays")
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()
    table = list_models(args.crawl, concurrent=True)
    runs = [(m["name"], "semaphore") for m in table] + [(m["name"], "batched") for m in table if m["event_loops"]]
    progress = Progress("tails", len(runs))
    summaries, rows, failed = [], [], 0
    for k, (model, pattern) in enumerate(runs, 1):
        stem = f"tails-{model}" + ("-batched" if pattern == "batched" else "")
        argv = [args.crawl, "--model", model, "--url", args.url, "--num", str(args.num),
                "--concurrency", str(args.concurrency), "--delay", str(args.delay), "--delay-dist", args.dist,
                "--seed", str(args.seed), "--name", stem, "--timeline", os.path.join(args.out_dir, stem + ".csv"),
                "--json"]
        if pattern == "batched":
            argv.append("--batched")
        s, rc, err = run_json(argv, f"tails: {model} {pattern}")
        if rc != 0:
            print(f"tails: {model} {pattern} exited {rc}: {err.strip()}", file=sys.stderr)
            failed += 1
        summaries.append(s)
        latency = s["latency_ms"] or {}
        rows.append({"model": model, "pattern": pattern, "num": s["num"], "concurrency": s["concurrency"],
                     "delay_ms": s["delay_ms"], "delay_dist": s["delay_dist"], "seconds": f"{s['seconds']:.6f}",
                     "ideal_seconds": f"{s['ideal_seconds']:.6f}", "efficiency": "" if s["efficiency"] is None else f"{s['efficiency']:.6f}",
                     "batched_ideal_seconds": "" if s["batched_ideal_seconds"] is None
                     else f"{s['batched_ideal_seconds']:.6f}",
                     "latency_p50_ms": latency.get("p50", ""), "latency_p99_ms": latency.get("p99", ""),
                     "failed": s["failed"]})
        progress.step(k, f"{model} {pattern}: {s['seconds']:.3f} s, ideal {s['ideal_seconds']:.3f} s "
                         + ("(no answer)" if s["efficiency"] is None else f"(efficiency {s['efficiency']:.3f})"))
    progress.done()
    write_results(args.out_dir, "tails", summaries, FIELDS, rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The concurrency sweep (the book's Figure 8-3): time to fetch N URLs against
the number of concurrent requests, for several server delays.

Runs `crawl --json` once per (delay, concurrency) point against a running
delayserver and writes one CSV row per point:
    model,num,delay_ms,concurrency,seconds,ideal_seconds,failed
Standard library only; plots/plot_sweep.py draws the CSV.
"""
import argparse
import csv
import sys

from runner import Progress, int_list, run_json


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="delayserver base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--crawl", default="build/crawl", help="path to the crawl binary")
    ap.add_argument("--model", default="coroutine", help="model to sweep (default: coroutine)")
    ap.add_argument("--num", type=int, default=100, help="URLs per point (default 100)")
    ap.add_argument("--delays", type=int_list, default=[50, 100, 250], help="delays in ms (default 50,100,250)")
    ap.add_argument("--concurrency", type=int_list, default=[1, 2, 5, 10, 20, 50, 100, 200, 400],
                    help="concurrency values (default 1,2,5,10,20,50,100,200,400)")
    ap.add_argument("--seed", type=int, default=2026, help="crawl --seed for every point (default 2026)")
    ap.add_argument("--out", required=True, help="CSV file to write")
    args = ap.parse_args()

    points = [(d, c) for d in args.delays for c in args.concurrency]
    print(f"sweep: {args.model}, {len(points)} points, N={args.num}", file=sys.stderr)
    progress = Progress("sweep", len(points))
    failures = 0
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "num", "delay_ms", "concurrency", "seconds", "ideal_seconds", "failed"])
        for k, (delay, conc) in enumerate(points, 1):
            s, _, _ = run_json([args.crawl, "--model", args.model, "--url", args.url, "--num", str(args.num),
                                "--delay", str(delay), "--concurrency", str(conc),
                                "--seed", str(args.seed), "--name", f"sweep-{args.model}", "--json"],
                               "sweep: crawl")
            failures += s["failed"]
            w.writerow([args.model, s["num"], delay, conc, f"{s['seconds']:.6f}",
                        f"{s['ideal_seconds']:.6f}", s["failed"]])
            f.flush()
            progress.step(k, f"delay={delay} ms C={conc}: {s['seconds']:.3f} s")
    progress.done()
    if failures:
        print(f"sweep: {failures} requests failed (see the failed column)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Prints benchmark.sh's tables from a JSON array of `crawl --json` objects or
of `primes --json` objects. Every figure is one the programs computed (time,
ideal, efficiency, overhead percentiles, CPU, memory, threads); the only one
made here is the speedup over the first model when that is serial (the runs
come in the model table's order). Standard library only."""
import json
import sys


def crawl_table(runs):
    serial = runs[0]["seconds"] if runs and runs[0]["concurrency"] == 1 else None
    head = (f"{'model':<18} {'C':>5} {'seconds':>8} {'ideal':>7} {'speedup':>7} {'effic.':>7} "
            f"{'overhead p50':>12} {'p99':>9} {'CPU ms/1k':>9} {'peak RSS':>9} {'threads':>7} {'failed':>6}")
    print(head)
    for r in runs:
        ok = r["seconds"] > 0 and not r["failed"]
        speedup = f"{serial / r['seconds']:.1f}x" if serial and r["seconds"] > 0 else "-"
        eff = f"{r['efficiency']:.1%}" if ok and r["efficiency"] is not None else "-"
        over = r.get("overhead_us") or {}
        cost = r.get("cost") or {}
        p50 = f"{over['p50'] / 1000:.2f} ms" if over else "-"
        p99 = f"{over['p99'] / 1000:.2f} ms" if over else "-"
        cpu = f"{cost['cpu_ms_per_1k']:.0f}" if cost else "-"
        rss = f"{cost['peak_rss_kib'] / 1024:.1f} MB" if cost else "-"
        threads = cost.get("peak_threads", "-")
        name = r["model"] + (" --batched" if r.get("batched") else "")
        print(f"{name:<18} {r['concurrency']:>5} {r['seconds']:>8.3f} {r['ideal_seconds']:>7.3f} "
              f"{speedup:>7} {eff:>7} {p50:>12} {p99:>9} {cpu:>9} {rss:>9} {threads:>7} {r['failed']:>6}")
    dist = runs[0].get("delay_dist", "fixed") if runs else "fixed"
    print(f"delays: {dist}; ideal: a perfect semaphore with the delays the server gave; "
          "overhead: each request's time beyond its delay; CPU and memory: the crawl process's own")


def primes_table(runs):
    print(f"{'mode':<10} {'max_number':>10} {'primes':>7} {'seconds':>9} {'compute':>9} {'failed':>6}")
    for r in runs:
        print(f"{r['mode']:<10} {r['max_number']:>10} {r['primes']:>7} {r['seconds']:>9.3f} "
              f"{r['compute_seconds']:>9.4f} {r['failed']:>6}")


def main():
    if len(sys.argv) != 2:
        print("usage: table.py SUMMARY_JSON", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        runs = json.load(f)
    if runs and "mode" in runs[0]:
        primes_table(runs)
    else:
        crawl_table(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

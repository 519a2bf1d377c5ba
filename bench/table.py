#!/usr/bin/env python3
"""Prints benchmark.sh's tables from a JSON array of `crawl --json` objects
(model, seconds, the ideal time and efficiency crawl computed, speedup over the
first model, which is serial, failures) or of `primes --json` objects (mode,
primes, seconds, compute seconds, failures). Standard library only."""
import json
import sys


def main():
    if len(sys.argv) != 2:
        print("usage: table.py SUMMARY_JSON", file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        runs = json.load(f)
    if runs and "mode" in runs[0]:
        print(f"{'mode':<10} {'max_number':>10} {'primes':>7} {'seconds':>9} {'compute':>9} {'failed':>6}")
        for r in runs:
            print(f"{r['mode']:<10} {r['max_number']:>10} {r['primes']:>7} {r['seconds']:>9.3f} "
                  f"{r['compute_seconds']:>9.4f} {r['failed']:>6}")
        return 0
    # The runs come in the model table's order: the first is the serial baseline.
    serial = runs[0]["seconds"] if runs else None
    print(f"{'model':<10} {'C':>5} {'seconds':>9} {'ideal':>8} {'speedup':>8} {'efficiency':>10} {'failed':>6}")
    for r in runs:
        speedup = f"{serial / r['seconds']:.1f}x" if serial and r["seconds"] > 0 else "-"
        eff = f"{r['efficiency']:.1%}" if r["seconds"] > 0 and not r["failed"] else "-"
        print(f"{r['model']:<10} {r['concurrency']:>5} {r['seconds']:>9.3f} {r['ideal_seconds']:>8.3f} "
              f"{speedup:>8} {eff:>10} {r['failed']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

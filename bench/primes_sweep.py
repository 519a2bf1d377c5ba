#!/usr/bin/env python3
"""The primes sweep (the book's Figure 8-7): time to find and save every prime
below max_number, for max_number = 2^MIN .. 2^MAX and each mode, against a
running delayserver. The modes come from `primes --list-modes`; one that saves
one prime at a time (serial) pays a database latency per prime, so it stops at
--serial-max-exp; --extend-exp carries the others further.

Writes one CSV row per run (the bound and the save latency as primes --json
gives them):
    mode,max_number,primes,seconds,compute_seconds,failed,save_latency_ms,bound_seconds
and finally checks, through GET /primes, that the database holds exactly the
primes below the largest max_number any saving mode ran, nothing lost.
Standard library only; plots/plot_primes.py draws the CSV.
"""
import argparse
import csv
import json
import sys
import urllib.request

from runner import Progress, list_prime_modes, run_json


def mode_list(text):
    return [m for m in text.split(",") if m]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="delayserver base URL")
    ap.add_argument("--primes", default="build/primes", help="path to the primes binary")
    ap.add_argument("--min-exp", type=int, default=7)
    ap.add_argument("--max-exp", type=int, default=14)
    ap.add_argument("--serial-max-exp", type=int, default=13,
                    help="a mode that saves one prime at a time (serial) stops here (2^13: about 52 s)")
    ap.add_argument("--extend-exp", type=int, default=20, help="--extend-modes go on up to 2^this")
    ap.add_argument("--extend-modes", type=mode_list, help="default: every mode but one-at-a-time ones")
    ap.add_argument("--modes", type=mode_list, help="default: every mode of primes --list-modes")
    ap.add_argument("--out", required=True, help="CSV file to write")
    args = ap.parse_args()
    table = {m["name"]: m for m in list_prime_modes(args.primes)}
    modes = args.modes or list(table)
    extend = args.extend_modes if args.extend_modes is not None else [m for m in table
                                                                      if not table[m]["one_at_a_time"]]
    bad = [m for m in modes + extend if m not in table]
    if bad:
        ap.error(f"unknown modes: {', '.join(bad)} (primes --list-modes: {', '.join(table)})")

    runs = []
    for mode in modes:
        top = args.max_exp
        if table[mode]["one_at_a_time"]:
            top = min(top, args.serial_max_exp)
        if mode in extend:
            top = max(top, args.extend_exp)
        runs += [(mode, 2 ** e) for e in range(args.min_exp, top + 1)]
    failures, largest_saved, expected = 0, 0, None
    progress = Progress("primes_sweep", len(runs))
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "max_number", "primes", "seconds", "compute_seconds", "failed", "save_latency_ms",
                    "bound_seconds"])
        for k, (mode, n) in enumerate(runs, 1):
            s, _, _ = run_json([args.primes, "--mode", mode, "--max-number", str(n), "--url", args.url,
                                "--json"], "primes_sweep: primes")
            failures += s["failed"]
            if table[mode]["saves"] and n > largest_saved:
                largest_saved, expected = n, s["primes"]
            w.writerow([mode, n, s["primes"], f"{s['seconds']:.6f}", f"{s['compute_seconds']:.6f}",
                        s["failed"], "" if s["save_latency_ms"] is None else s["save_latency_ms"],
                        "" if s["bound_seconds"] is None else f"{s['bound_seconds']:.6f}"])
            f.flush()
            progress.step(k, f"{mode} 2^{n.bit_length() - 1}: {s['seconds']:.3f} s")
    progress.done()
    if failures:
        print(f"primes_sweep: {failures} primes were not saved", file=sys.stderr)
        return 1
    if expected is not None:
        with urllib.request.urlopen(args.url + "/primes", timeout=10) as r:
            stored = json.load(r)
        ok = stored["count"] == expected
        print(f"primes_sweep: database holds {stored['count']} primes, expected {expected} "
              f"(all primes below {largest_saved}): {'ok' if ok else 'MISMATCH'}", file=sys.stderr)
        if not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

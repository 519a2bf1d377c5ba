#!/usr/bin/env python3
"""Checks a crawl-mpi run from its outputs (tests/mpi_test.sh calls it).

  check_mpi.py merged SUMMARY.json TIMELINE.csv N C PEAK_IN_FLIGHT...
      every index 0..N-1 exactly once, in the rank that owns it; counts summed;
      the summary's percentiles equal those computed from the merged CSV; the
      servers saw at most C in flight between them.
  check_mpi.py skew SUMMARY.json TIMELINE.csv RANK SKEW_MS
      that rank's measured offset is -SKEW_MS within its measured round trip,
      and its corrected times start with the others (not SKEW_MS away).
Only the standard library. Exit 1 with the reasons on stderr when a check fails.
"""
import csv
import json
import math
import sys

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def nearest_rank(sorted_values, q):
    rank = math.ceil(q * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def load(summary_path, timeline_path):
    with open(summary_path) as f:
        summary = json.loads(f.read().strip().splitlines()[-1])
    with open(timeline_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return summary, rows


def merged(summary, rows, n, c, peaks):
    ranks = summary["mpi"]["per_rank"]
    check(summary["num"] == n, f"summary num {summary['num']} != {n}")
    check(summary["concurrency"] == c, f"summary concurrency {summary['concurrency']} != {c}")
    check(len(rows) == n, f"{len(rows)} rows in the timeline, expected {n}")
    indexes = sorted(int(r["index"]) for r in rows)
    check(indexes == list(range(n)), "the indexes are not 0..N-1 each exactly once")
    for r in rows:
        owner = next(k for k in ranks if k["first_index"] <= int(r["index"]) < k["first_index"] + k["num"])
        if int(r["rank"]) != owner["rank"]:
            check(False, f"index {r['index']} is in rank {r['rank']}'s rows, but rank {owner['rank']} owns it")
            break
    check(sum(k["num"] for k in ranks) == n, "the ranks' shares do not add up to N")
    check(sum(k["concurrency"] for k in ranks) == c, "the ranks' concurrency does not add up to C")
    check(summary["failed"] == sum(k["failed"] for k in ranks), "failed is not the sum of the ranks'")
    check(summary["bytes"] == sum(k["bytes"] for k in ranks), "bytes is not the sum of the ranks'")
    ok = [r for r in rows if r["status"] == "200"]
    check(summary["bytes"] == sum(int(r["bytes"]) for r in ok), "bytes differ from the timeline's")
    # Latency percentiles from the merged rows, to the microsecond.
    lat = sorted(round((float(r["end"]) - float(r["start"])) * 1e6) / 1000 for r in ok)
    want = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p99.9": 0.999}
    for key, q in want.items():
        got = summary["latency_ms"][key]
        check(abs(got - nearest_rank(lat, q)) < 0.0015,
              f"latency {key}: summary {got} ms, from the merged timeline {nearest_rank(lat, q)} ms")
    check(abs(summary["latency_ms"]["max"] - lat[-1]) < 0.0015, "latency max differs from the timeline's")
    starts = [float(r["start"]) for r in rows]
    ends = [float(r["end"]) for r in rows]
    # The run (first rank's start to last rank's end, in rank 0's clock) holds
    # every request, and is longer only by starting and stopping (closing
    # thousands of connections takes a while on a busy machine).
    span, seconds = max(ends) - min(starts), summary["seconds"]
    check(-0.002 <= seconds - span <= 0.05 + 0.02 * seconds,
          f"seconds {seconds} does not hold the merged timeline's span {span:.6f} closely")
    check(summary["cost"]["cpu_ms_per_1k"] >= 0, f"negative CPU per 1k: {summary['cost']['cpu_ms_per_1k']}")
    for k in ranks:
        check(k["cpu_user_seconds"] >= 0 and k["cpu_system_seconds"] >= 0, f"rank {k['rank']}: negative CPU time")
    check(sum(peaks) <= c, f"the servers held {sum(peaks)} in flight at their peaks, more than C={c}")
    check(sum(peaks) > 0, "the servers saw nothing in flight")


def skew(summary, rows, rank, skew_ms):
    k = summary["mpi"]["per_rank"][rank]
    err = abs(k["clock_offset_us"] + skew_ms * 1000)
    check(err <= k["clock_round_trip_us"] + 1,
          f"rank {rank}'s offset {k['clock_offset_us']} us is {err} us from -{skew_ms} ms, more than its "
          f"round trip {k['clock_round_trip_us']} us")
    first = {}
    for r in rows:
        first[r["rank"]] = min(first.get(r["rank"], math.inf), float(r["start"]))
    spread = max(first.values()) - min(first.values())
    check(spread < skew_ms / 1000 / 5,
          f"the ranks' first corrected starts are {spread * 1000:.1f} ms apart: the skew was not corrected")
    check(abs(k["start_lag_us"]) < skew_ms * 1000 / 5, f"rank {rank} started {k['start_lag_us']} us off")


# The figures summarize() derives: the merged run's and crawl summarize's of
# the merged timeline (with the run's JSON) must be the same to the bit.
DERIVED = ["bytes", "failed", "retries", "concurrency", "ideal_seconds", "ideal_from", "efficiency",
           "delay_given_ms", "latency_ms", "overhead_us", "overhead_us_spectrum", "open_loop", "cost",
           "seconds", "seconds_from"]


def same(summary, again):
    for key in DERIVED:
        check(summary[key] == again[key], f"{key}: merged {summary[key]!r}, crawl summarize {again[key]!r}")


def main():
    what = sys.argv[1]
    summary, rows = load(sys.argv[2], sys.argv[3])
    if what == "merged":
        merged(summary, rows, int(sys.argv[4]), int(sys.argv[5]), [int(p) for p in sys.argv[6:]])
    elif what == "skew":
        skew(summary, rows, int(sys.argv[4]), float(sys.argv[5]))
    elif what == "same":
        with open(sys.argv[4]) as f:
            same(summary, json.load(f))
    else:
        raise SystemExit(f"unknown check {what}")
    for f in failures:
        print(f"check_mpi: {f}", file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"check_mpi: {what}: {len(rows)} requests, every check passed")


if __name__ == "__main__":
    main()

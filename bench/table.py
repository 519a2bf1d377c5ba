#!/usr/bin/env python3
"""The tables of a run: benchmark.sh prints them, report.html shows the same
rows (plots/report.py asks this module for them). Every figure is one the
programs computed (time, ideal, efficiency, overhead percentiles, CPU, memory,
threads, the python stage's ratios); the only one made here is the speedup
over the first model when that is serial (the runs come in the model table's
order).

Usage: table.py DIR   (the run folder: one table per stage that has one)
Standard library only."""
import os
import sys

import runfolder


def number(v, spec, none="-", unit=""):
    """A number as `spec` says (with its unit), `none` for a null, anything
    else (a crafted field) as its text."""
    if v is None:
        return none
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return format(v, spec) + unit
    return str(v)


def crawl_rows(runs):
    """(head, rows) of crawl --json objects: one row of text cells per run."""
    serial = runs[0]["seconds"] if runs and runs[0].get("concurrency") == 1 else None
    head = ["model", "C", "seconds", "ideal", "speedup", "efficiency", "overhead p50", "p99", "CPU ms / 1k",
            "peak RSS", "threads", "failed"]
    rows = []
    for r in runs:
        over, cost = r.get("overhead_us") or {}, r.get("cost") or {}
        seconds = r.get("seconds")
        speedup = serial / seconds if serial and isinstance(seconds, (int, float)) and seconds > 0 else None
        rows.append([
            f"{r.get('model')}{' --batched' if r.get('batched') else ''}",
            number(r.get("concurrency"), "d"),
            number(seconds, ".3f"),
            number(r.get("ideal_seconds"), ".3f"),
            number(speedup, ".1f", unit="x"),
            number(r.get("efficiency"), ".1%", "no answer"),
            number(over.get("p50") and over["p50"] / 1000, ".2f", unit=" ms"),
            number(over.get("p99") and over["p99"] / 1000, ".2f", unit=" ms"),
            number(cost.get("cpu_ms_per_1k"), ".0f"),
            number(cost.get("peak_rss_kib") and cost["peak_rss_kib"] / 1024, ".1f", unit=" MB"),
            number(cost.get("peak_threads"), "d"),
            number(r.get("failed"), "d")])
    return head, rows


CRAWL_NOTE = ("ideal: a perfect semaphore with the delays the server gave; overhead: each request's time "
              "beyond its delay; CPU and memory: the crawl process's own")


def primes_rows(runs):
    head = ["mode", "max_number", "primes", "seconds", "compute", "bound", "failed"]
    rows = [[str(r.get("mode")), number(r.get("max_number"), "d"), number(r.get("primes"), "d"),
             number(r.get("seconds"), ".3f"), number(r.get("compute_seconds"), ".4f"),
             number(r.get("bound_seconds"), ".3f"), number(r.get("failed"), "d")] for r in runs]
    return head, rows


def pairs_of(summary):
    """The python stage's pairs that are dicts with both names."""
    return [p for p in summary.get("pairs") or [] if isinstance(p, dict) and "python" in p and "cpp" in p]


def pair_runs(summary, pair):
    """A pair's two runs (C++, Python) from the stage's runs; {} for one that
    is not there (the Python model failed, or the index is not a run's)."""
    def at(key):
        k, runs = pair.get(key), summary["runs"]
        ok = isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(runs) and isinstance(runs[k], dict)
        return runs[k] if ok else {}
    return at("cpp_run"), at("python_run")


def python_rows(summary):
    """(head, rows) of the python stage: each Python model, its C++
    counterpart, and each figure as Python / C++ (the ratio, crawl compare's)."""
    rows = []
    head = ["Python model", "C++", "example", "N", "efficiency", "overhead p50 ms", "p99 ms", "CPU ms / 1k",
            "peak RSS MB", "error"]

    def cell(py, cpp, ratio, spec, scale=1.0):
        shown = lambda r: number(r if r is None else r / scale, spec)  # noqa: E731
        return f"{shown(py)} / {shown(cpp)} ({number(ratio, '.2f', '-', 'x')})"

    for pair in pairs_of(summary):
        cpp, py = pair_runs(summary, pair)
        ratio = pair.get("ratios") or {}
        over = lambda r, q: (r.get("overhead_us") or {}).get(q)  # noqa: E731
        cost = lambda r, k: (r.get("cost") or {}).get(k)  # noqa: E731
        rows.append([pair["python"], pair["cpp"], str(pair.get("example", "")), number(cpp.get("num"), "d"),
                     cell(py.get("efficiency"), cpp.get("efficiency"), ratio.get("efficiency"), ".2f"),
                     cell(over(py, "p50"), over(cpp, "p50"), ratio.get("overhead_p50_us"), ".2f", 1000),
                     cell(over(py, "p99"), over(cpp, "p99"), ratio.get("overhead_p99_us"), ".1f", 1000),
                     cell(cost(py, "cpu_ms_per_1k"), cost(cpp, "cpu_ms_per_1k"), ratio.get("cpu_ms_per_1k"), ".0f"),
                     cell(cost(py, "peak_rss_kib"), cost(cpp, "peak_rss_kib"), ratio.get("peak_rss_kib"), ".1f",
                          1024),
                     pair.get("error") or ""])
    return head, rows


PYTHON_NOTE = ("each cell: Python / C++ (the ratio); the same server, URLs and delays; the Python run's "
               "window leaves out the interpreter's start and the imports, as the book's time.time() calls")

# The stages with a table of their runs, and how to make its rows from the stage's summary.
def tls_rows(summary):
    """The tls stage: each model's efficiency, CPU and handshake times per
    key, variant and C (the runs carry their key and variant)."""
    head = ["model", "key", "variant", "C", "efficiency", "CPU ms / 1k", "handshake p50", "p99", "resumed",
            "failed"]
    rows = []
    for r in summary["runs"]:
        t, cost = r.get("tls_us") or {}, r.get("cost") or {}
        rows.append([str(r.get("model")), str(r.get("key")), str(r.get("variant")),
                     number(r.get("concurrency"), "d"), number(r.get("efficiency"), ".1%", "no answer"),
                     number(cost.get("cpu_ms_per_1k"), ".0f"),
                     number(t.get("p50") and t["p50"] / 1000, ".2f", unit=" ms"),
                     number(t.get("p99") and t["p99"] / 1000, ".2f", unit=" ms"),
                     number(r.get("tls_resumed"), "d", "not said"), number(r.get("failed"), "d")])
    return head, rows


TLS_NOTE = ("handshake: from connected to the TLS session's start, over the requests that opened a connection "
            "(curl does not say which resumed); CPU: the crawl process's own")

def spike_rows(summary):
    """The spike stage: each model's backlog and recovery, with and without
    work on each answer."""
    head = ["model", "work", "peak backlog", "p99 from due", "recovery", "CPU ms / 1k", "failed"]
    rows = []
    for r in summary["runs"]:
        o, cost = r.get("open_loop") or {}, r.get("cost") or {}
        rec = o.get("recovery_s")
        rows.append([str(r.get("model")), str(r.get("work_spec")), number(o.get("peak_backlog"), "d"),
                     number((o.get("latency_from_due_ms") or {}).get("p99"), ".0f", unit=" ms"),
                     number(rec, ".2f", unit=" s") if rec is not None else "not within the run",
                     number(cost.get("cpu_ms_per_1k"), ".0f"), number(r.get("failed"), "d")])
    return head, rows


SPIKE_NOTE = ("recovery: from the spike's end until the p99 latency from due is back within 1.1 x the delay, "
              "in every 100 ms window after")

def stealing_rows(summary):
    """The stealing stage: each design (one loop, static shards, a pool) with
    and without uneven work: how close it came, its overhead tail, what it
    cost, and how evenly its threads shared the work."""
    head = ["model", "loops", "threads", "work", "seconds", "efficiency", "overhead p50", "p99", "p99.9",
            "CPU ms / 1k", "busiest share", "failed"]
    rows = []
    for r in summary["runs"]:
        over, cost, work = r.get("overhead_us") or {}, r.get("cost") or {}, r.get("work") or {}
        ms = lambda q: number(over.get(q) and over[q] / 1000, ".2f", unit=" ms")  # noqa: E731
        pool = r.get("threads") is not None  # a pool model runs no loops of its own
        rows.append([str(r.get("model")), "-" if pool else number(r.get("loops"), "d"), number(r.get("threads"), "d"),
                     str(r.get("work_spec")), number(r.get("seconds"), ".3f"),
                     number(r.get("efficiency"), ".1%", "no answer"), ms("p50"), ms("p99"), ms("p99.9"),
                     number(cost.get("cpu_ms_per_1k"), ".0f"), number(work.get("busiest_share"), ".2f"),
                     number(r.get("failed"), "d")])
    return head, rows


STEALING_NOTE = ("busiest share: the busiest thread's part of the work on the answers (1/threads is even); "
                 "the ideal with work is the larger of the delays' and the work spread over the threads the "
                 "model uses")

TABLES = {"crawl": lambda s: crawl_rows(s["runs"]), "tails": lambda s: crawl_rows(s["runs"]),
          "primes": lambda s: primes_rows(s["runs"]), "tails-primes": lambda s: primes_rows(s["runs"]),
          "python": python_rows, "tls": tls_rows, "spike": spike_rows,
          "stealing": stealing_rows}


def text(head, rows):
    """The table as text: the first column to the left, the rest to the right."""
    widths = [max(len(c) for c in col) for col in zip(head, *rows)]
    line = lambda cells: " ".join(c.ljust(w) if k == 0 else c.rjust(w)  # noqa: E731
                                  for k, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join(line(r) for r in [head] + rows)


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("usage: table.py DIR (a benchmark.sh run folder)", file=sys.stderr)
        return 2
    directory = sys.argv[1]
    for stage in runfolder.stages_in(directory):
        if stage not in TABLES:
            continue
        summary = runfolder.read_summary(directory, stage)
        head, rows = TABLES[stage](summary)
        print(f"\n{stage}: {summary['title']}")
        print(text(head, rows))
        if stage in ("crawl", "tails"):
            dist = (summary["runs"] or [{}])[0].get("delay_dist", "fixed")
            print(f"delays: {dist}; {CRAWL_NOTE}")
        if stage == "python":
            print(PYTHON_NOTE)
        if stage == "tls":
            print(TLS_NOTE)
        if stage == "spike":
            print(SPIKE_NOTE)
        if stage == "stealing":
            print(STEALING_NOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())

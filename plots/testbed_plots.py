"""Shared pieces of the plotting scripts: reading our CSV files, the run's
models and their colours, and in-flight counts derived from a timeline."""
import csv
import json
import os
import sys

# A model's colour follows its place in the model table (the order summary.json
# lists the models in), so it is the same in every picture of a run.
PALETTE = ["#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#b07aa1", "#e15759", "#edc948", "#9c755f",
           "#ff9da7", "#bab0ac"]


def colours(models):
    return {m: PALETTE[k % len(PALETTE)] for k, m in enumerate(models)}


def run_models(directory):
    """The models a run folder has timelines for, in the model table's order
    (summary.json's), else by file name."""
    summaries = read_summaries(directory)
    found = sorted(f[len("client-"):-len(".csv")] for f in os.listdir(directory)
                   if f.startswith("client-") and f.endswith(".csv"))
    ordered = [m for m in summaries if m in found]
    return ordered + [m for m in found if m not in ordered]


def setup_matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_client_timeline(path):
    """Rows of a crawl --timeline CSV as dicts with float start/end and int fields."""
    rows = []
    for r in read_rows(path):
        rows.append({"index": int(r["index"]), "start": float(r["start"]), "end": float(r["end"]),
                     "bytes": int(r["bytes"]), "status": int(r["status"])})
    rows.sort(key=lambda r: r["index"])
    return rows


def read_summaries(directory):
    """summary.json as {model: summary}, or {} when the run did not leave one."""
    path = os.path.join(directory, "summary.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return {s["model"]: s for s in json.load(f)}


def read_stage(directory, name, program):
    """A stage's JSON array of summaries (tails-summary.json, load-summary.json),
    or None after saying on stderr that the folder has none."""
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        print(f"{program}: no {name} in {directory}", file=sys.stderr)
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def efficiency_text(efficiency):
    """A summary's efficiency for a title: null when no request was answered."""
    return "no answer" if efficiency is None else f"{efficiency:.2f}"


def in_flight(spans):
    """Step function of how many [start, end) spans are open: (times, counts)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans],
                    key=lambda ev: (ev[0], ev[1]))
    times, counts, now = [], [], 0
    for t, d in events:
        now += d
        times.append(t)
        counts.append(now)
    return times, counts


def describe(model, rows, summary):
    """Title facts for one model: from summary.json when present, else from the CSV alone."""
    spans = [(r["start"], r["end"]) for r in rows]
    t0 = min(s for s, _ in spans) if spans else 0.0
    measured = (max(e for _, e in spans) - t0) if spans else 0.0
    if summary:
        return dict(num=summary["num"], concurrency=summary["concurrency"],
                    delay_ms=summary["delay_ms"], seconds=summary["seconds"],
                    ideal=summary.get("ideal_seconds"), failed=summary["failed"], t0=t0)
    durations = sorted(e - s for s, e in spans)
    delay = round(durations[len(durations) // 2] * 1000) if durations else 0
    peak = max(in_flight(spans)[1], default=0)
    return dict(num=len(rows), concurrency=peak, delay_ms=delay, seconds=measured, ideal=None,
                failed=sum(1 for r in rows if r["status"] != 200), t0=t0)

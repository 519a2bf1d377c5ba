"""Shared pieces of the pictures (the PNG plots and report.html): the run
folder's files (through bench/runfolder.py), the models' colours, and what a
timeline or a spectrum becomes on an axis."""
import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import runfolder  # noqa: E402  (bench/: the names of the run folder's files)

# A model's colour follows its place in the model table (crawl --list-models,
# which every crawl stage's summary keeps), so it is the same in every picture.
PALETTE = ["#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#b07aa1", "#e15759", "#edc948", "#9c755f",
           "#ff9da7", "#bab0ac"]
FAILED = "#d62728"
SAVE, COMPUTE = "#4e79a7", "#f28e2b"


def colours(names):
    return {m: PALETTE[k % len(PALETTE)] for k, m in enumerate(names)}


def model_colours(summary):
    """Colours by the model table a stage's summary keeps (its runs' models
    after, should a summary lack the table)."""
    names = [m["name"] for m in summary.get("models") or []]
    names += [r["model"] for r in summary["runs"] if r.get("model") not in names]
    return colours(dict.fromkeys(names))


# The Python models' markers, by their place in their table (three of them
# share the coroutine model's colour).
PY_MARKERS = ["s", "^", "v", "D", "P", "X", "*", "h"]


def model_styles(summary):
    """(colour, dashed, marker) for every model of a stage's runs: a C++
    model's colour from the model table, a circle; a Python model (pycrawl/,
    its table in the summary's python_models) in its C++ counterpart's colour,
    dashed, a marker of its own."""
    colour = model_colours({"models": summary.get("models"), "runs": [
        r for r in summary["runs"] if not str(r.get("model", "")).startswith("py-")]})
    styles = {m: (c, False, "o") for m, c in colour.items()}
    python = [m for m in summary.get("python_models") or [] if isinstance(m, dict) and "name" in m]
    for k, m in enumerate(python):
        styles[m["name"]] = (colour.get(m.get("cpp"), "#333"), True, PY_MARKERS[k % len(PY_MARKERS)])
    return styles


def stage_summary(directory, stage, program):
    """A stage's summary, or None after saying on stderr that the folder has none."""
    summary = runfolder.read_summary(directory, stage)
    if summary is None:
        print(f"{program}: no {runfolder.summary_name(stage)} in {directory}", file=sys.stderr)
    return summary


def stage_main(doc, stage, draw):
    """A plot script's command line: DIR, whose STAGE summary draw(DIR, summary) draws."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a benchmark.sh output folder")
    args = ap.parse_args()
    summary = stage_summary(args.dir, stage, os.path.basename(sys.argv[0]))
    return 1 if summary is None else draw(args.dir, summary)


def picture(directory, stage, what=None):
    return runfolder.path(directory, runfolder.picture_name(stage, what))


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


def spectrum_axis(spectrum):
    """An overhead spectrum ([quantile, us] pairs) on HDR-histogram axes: x =
    1 / (1 - q), stretching towards the tail (the slowest request, q = 1, drawn
    one step past the last finite point), y in ms (a zero overhead at 1 us, for
    the log axis). (xs, ys, the ticks as (x, label))."""
    finite = [q for q, _ in spectrum if q < 1]
    top = 2 / (1 - max(finite)) if finite else 2
    xs = [1 / (1 - q) if q < 1 else top for q, _ in spectrum]
    ys = [max(v, 1.0) / 1000 for _, v in spectrum]
    return xs, ys, SPECTRUM_TICKS


SPECTRUM_TICKS = [(1 / (1 - q), label) for q, label in
                  [(0.0, "0%"), (0.5, "50%"), (0.9, "90%"), (0.99, "99%"), (0.999, "99.9%"), (0.9999, "99.99%")]]


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

#!/usr/bin/env python3
"""Draws the python stage (python.csv, python-summary.json, python-LABEL.csv):
each of the book's Python models beside the C++ model it mirrors.

  python.png          the chronologies: one panel a pair, every request a line
                      from its start to its end, the C++ run's (blue) and the
                      Python run's (orange), both from their own first start,
                      on one time axis shared by every concurrent pair's panel
                      (the serial pair, N x delay long, has its own)
  python-figures.png  efficiency, overhead p50 and p99, CPU per 1k requests and
                      peak memory, C++ and Python side by side, each Python
                      bar labelled with its ratio to C++ (crawl compare's)

Every figure is crawl's own. Usage: plot_python.py DIR
"""
import os
import sys

import testbed_plots as tp
from testbed_plots import runfolder

CPP, PY = tp.PALETTE[0], tp.PALETTE[1]


def chronology(ax, path, colour, offset):
    """A run's requests as lines, from its first start; its length in seconds."""
    if not os.path.exists(path):
        return 0.0
    rows = tp.read_client_timeline(path)
    if not rows:
        return 0.0
    from matplotlib.collections import LineCollection
    t0 = min(r["start"] for r in rows)
    ax.add_collection(LineCollection(
        [[(r["start"] - t0, offset + r["index"]), (r["end"] - t0, offset + r["index"])] for r in rows],
        colors=[colour if r["status"] == 200 else tp.FAILED for r in rows], linewidths=0.6))
    ax.autoscale_view()
    return max(r["end"] for r in rows) - t0


def draw_chronologies(directory, rows, s):
    plt = tp.setup_matplotlib()
    cols = 4
    lines = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(lines, cols, figsize=(16, 3.6 * lines), squeeze=False)
    longest = 0.0  # of the concurrent pairs' runs: their common time axis
    for ax, r in zip(axes.flat, rows):
        num = int(r["num"])
        took = [chronology(ax, runfolder.path(directory, runfolder.python_timeline_name(r["counterpart"])), CPP, 0),
                chronology(ax, runfolder.path(directory, runfolder.python_timeline_name(r["model"])), PY,
                           num + num // 10)]
        if int(r["concurrency"]) > 1:
            longest = max(longest, *took)
        eff = (f"{float(r['py_efficiency']):.2f} vs {float(r['cpp_efficiency']):.2f}"
               if r["py_efficiency"] and r["cpp_efficiency"] else r["error"] or "no run")
        ax.set_title(f"{r['model']} vs {r['counterpart']} (N={num})\nefficiency {eff}", fontsize=9)
        ax.set_yticks([num / 2, num + num // 10 + num / 2])
        ax.set_yticklabels(["C++", "Python"])
        ax.set_xlabel("seconds from the run's first request", fontsize=8)
    for ax, r in zip(axes.flat, rows):
        if int(r["concurrency"]) > 1 and longest > 0:
            ax.set_xlim(0, longest * 1.05)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    fig.suptitle(f"The book's Python models beside C++: each request a line (C={s['concurrency']}, "
                 f"delay {s['delay_ms']} ms, the same URLs and delays)")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "python"))
    plt.close(fig)


def bars(ax, rows, key, title, log=False):
    x = range(len(rows))
    cpp = [float(r[f"cpp_{key}"] or 0) for r in rows]
    py = [float(r[f"py_{key}"] or 0) for r in rows]
    ax.bar([i - 0.2 for i in x], cpp, 0.4, color=CPP, label="C++")
    ax.bar([i + 0.2 for i in x], py, 0.4, color=PY, label="Python")
    for i, r in enumerate(rows):
        if r[f"ratio_{key}"]:
            ax.annotate(f"{float(r[f'ratio_{key}']):.2g}x", (i + 0.2, py[i]), ha="center", va="bottom",
                        fontsize=7)
    ax.set_xticks(list(x))
    ax.set_xticklabels([f"{r['model']}\n{r['counterpart']}" for r in rows], rotation=60, ha="right", fontsize=7)
    ax.set_title(title, fontsize=10)
    if log:
        ax.set_yscale("log")


def draw_figures(directory, rows, s):
    plt = tp.setup_matplotlib()
    fig, axes = plt.subplots(1, 5, figsize=(20, 5.2))
    bars(axes[0], rows, "efficiency", "efficiency (ideal / measured)")
    axes[0].set_ylim(0, 1.1)
    bars(axes[1], rows, "overhead_p50_us", "overhead p50 (µs)", log=True)
    bars(axes[2], rows, "overhead_p99_us", "overhead p99 (µs)", log=True)
    bars(axes[3], rows, "cpu_ms_per_1k", "CPU ms per 1k requests", log=True)
    bars(axes[4], rows, "peak_rss_kib", "peak memory (KiB)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"C++ and Python, pair by pair (N={s['num']}, C={s['concurrency']}, delay {s['delay_ms']} ms; "
                 "labels: Python / C++)")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "python", "figures"))
    plt.close(fig)


def draw(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("python")))
    if not rows:
        print("plot_python: python.csv has no rows", file=sys.stderr)
        return 1
    draw_chronologies(directory, rows, summary["settings"])
    draw_figures(directory, rows, summary["settings"])
    return 0


def main():
    return tp.stage_main(__doc__, "python", draw)


if __name__ == "__main__":
    sys.exit(main())

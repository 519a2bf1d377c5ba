#!/usr/bin/env python3
"""Draws the concurrency sweep (the book's Figure 8-3) from sweep.csv:
time to fetch N URLs against the number of concurrent requests, one line per
delay, log axes, with the ideal ceil(N/C)*delay dashed for reference.

Usage: plot_sweep.py DIR   (writes DIR/sweep.png)
"""
import sys

import testbed_plots as tp
from testbed_plots import runfolder


def draw(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("sweep")))
    if not rows:
        print("plot_sweep: sweep.csv has no rows", file=sys.stderr)
        return 1
    plt = tp.setup_matplotlib()
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    delays = sorted({int(r["delay_ms"]) for r in rows})
    palette = plt.get_cmap("viridis")
    for k, d in enumerate(delays):
        pts = sorted((int(r["concurrency"]), float(r["seconds"]), float(r["ideal_seconds"]))
                     for r in rows if int(r["delay_ms"]) == d)
        colour = palette(k / max(len(delays) - 1, 1) * 0.85)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colour, label=f"delay {d} ms")
        ax.plot([p[0] for p in pts], [p[2] for p in pts], "--", color=colour, linewidth=1, alpha=0.7)
    ax.plot([], [], "--", color="grey", label="ideal ceil(N/C)·delay")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent requests C")
    ax.set_ylabel("time to fetch all URLs (s, log)")
    ax.set_title(f"Finding the right concurrency: {rows[0]['model']}, N={rows[0]['num']} URLs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "sweep"))
    return 0


def main():
    return tp.stage_main(__doc__, "sweep", draw)


if __name__ == "__main__":
    sys.exit(main())

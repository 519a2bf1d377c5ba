#!/usr/bin/env python3
"""Draws the concurrency sweep (the book's Figure 8-3) from sweep.csv:
time to fetch N URLs against the number of concurrent requests, one line per
delay, log axes, with the ideal ceil(N/C)*delay dashed for reference; the
book's own asyncio crawler (py-aiohttp, pycrawl/) dotted, with squares, at
its delays.

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
    cpp_model = summary["settings"].get("model", rows[0]["model"])
    for k, d in enumerate(delays):
        colour = palette(k / max(len(delays) - 1, 1) * 0.85)
        for model in dict.fromkeys(r["model"] for r in rows):
            pts = sorted((int(r["concurrency"]), float(r["seconds"]), float(r["ideal_seconds"]))
                         for r in rows if int(r["delay_ms"]) == d and r["model"] == model and r["seconds"])
            if not pts:
                continue
            python = model != cpp_model
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "s:" if python else "o-", color=colour,
                    label=f"{model}, delay {d} ms" if python else f"delay {d} ms")
            if not python:
                ax.plot([p[0] for p in pts], [p[2] for p in pts], "--", color=colour, linewidth=1, alpha=0.7)
    ax.plot([], [], "--", color="grey", label="ideal ceil(N/C)·delay")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent requests C")
    ax.set_ylabel("time to fetch all URLs (s, log)")
    num = summary["settings"].get("num", rows[0]["num"])
    ax.set_title(f"Finding the right concurrency: {cpp_model}, N={num} URLs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "sweep"))
    return 0


def main():
    return tp.stage_main(__doc__, "sweep", draw)


if __name__ == "__main__":
    sys.exit(main())

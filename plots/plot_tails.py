#!/usr/bin/env python3
"""Draws tails.png from a tails stage (bench/tails.py): the same long-tailed
delays for every model, its semaphore on the left and, for the event-loop
models, the batched pattern (fire C, wait for all C) on the right, on one
shared time axis. Each request is a line from its start to its end; the
dashed line is the run's ideal (a perfect semaphore with the delays the server
gave), the dotted one the batched pattern's own floor (each batch as long as
its slowest request). Every figure is crawl's own (tails-summary.json).

Usage: plot_tails.py DIR   (writes DIR/tails.png)
"""
import os
import sys

from matplotlib.collections import LineCollection

import testbed_plots as tp
from testbed_plots import runfolder


def draw(directory, summary):
    summaries = summary["runs"]
    if not summaries:
        print("plot_tails: the tails stage has no runs", file=sys.stderr)
        return 1
    models = list(dict.fromkeys(s["model"] for s in summaries))
    colour = tp.model_colours(summary)
    runs = {}
    for s in summaries:
        rows = tp.read_client_timeline(runfolder.path(directory, runfolder.tails_timeline_name(s["model"], s["batched"])))
        runs[(s["model"], s["batched"])] = (s, rows)
    plt = tp.setup_matplotlib()
    fig, axes = plt.subplots(len(models), 2, figsize=(12, 1.75 * len(models) + 1.2), squeeze=False,
                             sharex=True, sharey=True)
    longest = max(max((r["end"] for r in rows), default=0) - min((r["start"] for r in rows), default=0)
                  for _, rows in runs.values())
    for k, model in enumerate(models):
        for col, batched in enumerate((False, True)):
            ax = axes[k, col]
            if (model, batched) not in runs:
                ax.text(0.5, 0.5, f"{model}: no batched pattern (not an event-loop model)", ha="center",
                        va="center", transform=ax.transAxes, fontsize=9, color="grey")
                ax.grid(False)
                continue
            s, rows = runs[(model, batched)]
            t0 = min((r["start"] for r in rows), default=0)
            lines = [[(r["start"] - t0, r["index"]), (r["end"] - t0, r["index"])] for r in rows]
            ax.add_collection(LineCollection(lines, colors=colour[model], linewidths=0.4))
            bad = [line for line, r in zip(lines, rows) if r["status"] != 200]
            if bad:
                ax.add_collection(LineCollection(bad, colors="red", linewidths=0.8))
            ax.axvline(s["ideal_seconds"], color="black", linestyle="--", linewidth=0.9)
            label = (f"{model}{' --batched' if batched else ''}: {s['seconds']:.2f} s, "
                     f"ideal {s['ideal_seconds']:.2f} s ({tp.efficiency_text(s['efficiency'])})")
            if batched and s["batched_ideal_seconds"] is not None:
                ax.axvline(s["batched_ideal_seconds"], color="black", linestyle=":", linewidth=0.9)
                label += f", batches' floor {s['batched_ideal_seconds']:.2f} s"
            if s["failed"]:
                label += f", {s['failed']} failed"
            ax.set_title(label, loc="left", fontsize=9)
            ax.set_ylim(-1, max(s["num"], 1))
            ax.set_xlim(0, longest * 1.02 or 1)
        axes[k, 0].set_ylabel("request")
    for col in range(2):
        axes[-1, col].set_xlabel("time since the run's first request (s)")
    s0 = summaries[0]
    fig.suptitle(f"Long-tailed delays ({s0['delay_dist']}, median {s0['delay_ms']} ms), N={s0['num']}, "
                 f"C={s0['concurrency']}: the semaphore (left) against the batched pattern (right).\n"
                 f"Dashed: the ideal (a perfect semaphore with the same delays); dotted: the batches' own "
                 f"floor (each batch waits for its slowest request)", fontsize=10)
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "tails"))
    plt.close(fig)
    return 0


def main():
    return tp.stage_main(__doc__, "tails", draw)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Draws the primes stages' pictures.

  primes-sweep.png
      The book's Figure 8-7 (primes-sweep.csv): time against numbers probed, log
      axes, one line per mode (in the CSV's order, primes --list-modes'), each
      with its bound dashed (bound_seconds: compute plus the saves that must wait
      one after another, as primes --json derives it).
  primes-callgraph.png, tails-primes-callgraph.png
      Compute spans and save spans on one time axis, one panel per saver of the
      stage (batched and async), from their `primes --timeline`.

Usage: plot_primes.py DIR [STAGE ...]   (default: every primes stage the folder has)
"""
import argparse
import os
import sys

from matplotlib.collections import LineCollection

import testbed_plots as tp
from testbed_plots import runfolder



def sweep(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("primes-sweep")))
    if not rows:
        print("plot_primes: primes-sweep.csv has no rows", file=sys.stderr)
        return 1
    plt = tp.setup_matplotlib()
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    colour = tp.colours(modes)
    for mode in modes:
        mine = sorted((int(r["max_number"]), r) for r in rows if r["mode"] == mode)
        xs = [n for n, _ in mine]
        ax.plot(xs, [max(float(r["seconds"]), 1e-6) for _, r in mine], "o-", color=colour[mode], label=mode,
                markersize=4)
        bound = [(n, float(r["bound_seconds"])) for n, r in mine if r.get("bound_seconds")]
        if bound:
            ax.plot([b[0] for b in bound], [max(b[1], 1e-6) for b in bound], "--", color=colour[mode],
                    linewidth=0.9, alpha=0.7)
    ax.plot([], [], "--", color="grey", label="each mode's bound: compute + the saves that must wait in turn")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("numbers probed (max_number)")
    ax.set_ylabel("time to find and save every prime (s, log)")
    ax.set_title("Saving primes to a slow database: serial, batched and async")
    ax.legend()
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "primes-sweep"))
    return 0


def callgraph(directory, summary):
    plt = tp.setup_matplotlib()
    stage = summary["stage"]
    panels = []
    for run in summary["runs"]:
        path = runfolder.path(directory, runfolder.primes_timeline_name(stage, run["mode"]))
        rows = tp.read_rows(path) if os.path.exists(path) else []
        if rows:
            panels.append((run["mode"], rows))
    if not panels:
        print(f"plot_primes: no rows in the {stage} stage's timelines", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.2 * len(panels) + 0.6), squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], panels):
        t0 = min(float(r["start"]) for r in rows)
        saves = [r for r in rows if r["kind"] == "save"]
        computes = [r for r in rows if r["kind"] == "compute"]
        seg = [[(float(r["start"]) - t0, i + 1), (float(r["end"]) - t0, i + 1)] for i, r in enumerate(saves)]
        ok = [s for s, r in zip(seg, saves) if r["status"] == "200"]
        bad = [s for s, r in zip(seg, saves) if r["status"] != "200"]
        width = max(0.3, min(1.5, 400 / max(len(saves), 1)))
        ax.add_collection(LineCollection(ok, colors=tp.SAVE, linewidths=width, label="save (HTTP request)"))
        if bad:
            ax.add_collection(LineCollection(bad, colors="red", linewidths=width * 2, label="failed save"))
        for r in computes:
            ax.axvspan(float(r["start"]) - t0, float(r["end"]) - t0, color=tp.COMPUTE, alpha=0.35, linewidth=0)
        ax.axvspan(0, 0, color=tp.COMPUTE, alpha=0.35, label="computing")
        end = max(float(r["end"]) for r in rows) - t0
        ax.set_xlim(0, end * 1.02 or 1)
        ax.set_ylim(0, len(saves) + 1)
        ax.set_ylabel("save number")
        ax.set_title(f"{name}: {len(saves)} saves, {end:.3f} s", loc="left", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("time since the search started (s)")
    fig.suptitle("Compute and database saves on one time axis")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, stage, "callgraph"))
    return 0


# The primes stages, and what draws each.
DRAWERS = {"primes": callgraph, "primes-sweep": sweep, "tails-primes": callgraph}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a benchmark.sh output folder")
    ap.add_argument("stages", nargs="*", help=f"of {', '.join(DRAWERS)} (default: every one the folder has)")
    args = ap.parse_args()
    unknown = [s for s in args.stages if s not in DRAWERS]
    if unknown:
        ap.error(f"not a primes stage: {', '.join(unknown)} (they are {', '.join(DRAWERS)})")
    stages = args.stages or [s for s in runfolder.stages_in(args.dir) if s in DRAWERS]
    failed = 0
    for stage in stages:
        summary = tp.stage_summary(args.dir, stage, "plot_primes")
        failed |= 1 if summary is None else DRAWERS[stage](args.dir, summary)
    return failed


if __name__ == "__main__":
    sys.exit(main())

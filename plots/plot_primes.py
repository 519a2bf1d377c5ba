#!/usr/bin/env python3
"""Draws the primes pictures from CSV files alone.

  plot_primes.py sweep PRIMES_SWEEP_CSV OUT_PNG
      The book's Figure 8-7: time against numbers probed, log axes, one line per
      mode (in the CSV's order, primes --list-modes'), each with its bound
      dashed (bound_seconds: compute plus the saves that must wait one after
      another, as primes --json derives it).
  plot_primes.py callgraph OUT_PNG TIMELINE_CSV [TIMELINE_CSV ...]
      Compute spans and save spans on one time axis, one panel per timeline
      (e.g. batched and async), from `primes --timeline`.
"""
import argparse
import os
import sys

from matplotlib.collections import LineCollection

import testbed_plots as tp



def sweep(args):
    rows = tp.read_rows(args.csv)
    if not rows:
        print(f"plot_primes: {args.csv} has no rows", file=sys.stderr)
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
    fig.savefig(args.png)
    return 0


def callgraph(args):
    plt = tp.setup_matplotlib()
    panels = []
    for path in args.timelines:
        rows = tp.read_rows(path)
        if rows:
            panels.append((os.path.basename(path), rows))
    if not panels:
        print("plot_primes: no rows in the timelines given", file=sys.stderr)
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
        ax.add_collection(LineCollection(ok, colors="#4e79a7", linewidths=width, label="save (HTTP request)"))
        if bad:
            ax.add_collection(LineCollection(bad, colors="red", linewidths=width * 2, label="failed save"))
        for r in computes:
            ax.axvspan(float(r["start"]) - t0, float(r["end"]) - t0, color="#f28e2b", alpha=0.35, linewidth=0)
        ax.axvspan(0, 0, color="#f28e2b", alpha=0.35, label="computing")
        end = max(float(r["end"]) for r in rows) - t0
        ax.set_xlim(0, end * 1.02 or 1)
        ax.set_ylim(0, len(saves) + 1)
        ax.set_ylabel("save number")
        label = name.replace("primes-", "").replace(".csv", "")
        ax.set_title(f"{label}: {len(saves)} saves, {end:.3f} s", loc="left", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("time since the search started (s)")
    fig.suptitle("Compute and database saves on one time axis")
    fig.tight_layout()
    fig.savefig(args.png)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("sweep")
    s.add_argument("csv")
    s.add_argument("png")
    c = sub.add_parser("callgraph")
    c.add_argument("png")
    c.add_argument("timelines", nargs="+")
    args = ap.parse_args()
    return sweep(args) if args.what == "sweep" else callgraph(args)


if __name__ == "__main__":
    sys.exit(main())

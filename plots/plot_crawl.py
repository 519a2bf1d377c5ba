#!/usr/bin/env python3
"""Draws a benchmark run's crawl pictures from its CSV files.

  chronology-<model>.png  every request a horizontal line from its start to its end,
                          request number on the y axis (the book's Figures 8-2, 8-4 to 8-6)
  comparison.png          all models as small multiples on one shared time axis
  inflight.png            requests in flight over time, per model

Usage: plot_crawl.py DIR  (reads DIR/client-<model>.csv and, if present, DIR/summary.json)
"""
import argparse
import os
import sys

from matplotlib.collections import LineCollection

import testbed_plots as tp


def title(model, facts):
    t = (f"{model}: N={facts['num']}, C={facts['concurrency']}, delay={facts['delay_ms']} ms, "
         f"{facts['seconds']:.2f} s")
    if facts["ideal"]:
        t += f" (ideal {facts['ideal']:.2f} s)"
    if facts["failed"]:
        t += f", {facts['failed']} failed"
    return t


def draw_chronology(ax, model, rows, facts, width, colour):
    t0 = facts["t0"]
    ok = [[(r["start"] - t0, r["index"]), (r["end"] - t0, r["index"])] for r in rows if r["status"] == 200]
    bad = [[(r["start"] - t0, r["index"]), (r["end"] - t0, r["index"])] for r in rows if r["status"] != 200]
    ax.add_collection(LineCollection(ok, colors=colour, linewidths=width))
    if bad:
        ax.add_collection(LineCollection(bad, colors="red", linewidths=width * 2, label="failed"))
        ax.legend(loc="lower right")
    ax.set_ylim(-1, max(len(rows), 1))
    ax.set_xlim(0, max(facts["seconds"], max((r["end"] - t0 for r in rows), default=0)) * 1.02 or 1)


def line_width(n):
    return max(0.3, min(1.5, 400 / max(n, 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a benchmark.sh output folder")
    args = ap.parse_args()
    plt = tp.setup_matplotlib()
    summaries = tp.read_summaries(args.dir)
    models = tp.run_models(args.dir)
    colour = tp.colours(models)
    runs = []
    for model in models:
        rows = tp.read_client_timeline(os.path.join(args.dir, f"client-{model}.csv"))
        runs.append((model, rows, tp.describe(model, rows, summaries.get(model))))
    if not runs:
        print(f"plot_crawl: no client-<model>.csv files in {args.dir}", file=sys.stderr)
        return 1

    for model, rows, facts in runs:
        fig, ax = plt.subplots(figsize=(9, 5.5))
        draw_chronology(ax, model, rows, facts, line_width(len(rows)), colour[model])
        ax.set_title(title(model, facts))
        ax.set_xlabel("time since the first request (s)")
        ax.set_ylabel("request number")
        fig.tight_layout()
        fig.savefig(os.path.join(args.dir, f"chronology-{model}.png"))
        plt.close(fig)

    # Small multiples, one shared x scale: the serial staircase against the async blocks.
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.1 * len(runs) + 0.8), sharex=True, squeeze=False)
    for ax, (model, rows, facts) in zip(axes[:, 0], runs):
        draw_chronology(ax, model, rows, facts, line_width(len(rows)), colour[model])
        ax.set_ylabel("request")
        ax.set_title(f"{model}: {facts['seconds']:.2f} s", loc="left", fontsize=10)
    longest = max(max(facts["seconds"], max((r["end"] - facts["t0"] for r in rows), default=0))
                  for _, rows, facts in runs)
    axes[-1, 0].set_xlim(0, longest * 1.02 or 1)
    axes[-1, 0].set_xlabel("time since the model's first request (s)")
    fig.suptitle("Request chronologies on one time axis")
    fig.tight_layout()
    fig.savefig(os.path.join(args.dir, "comparison.png"))
    plt.close(fig)

    # In flight over time: each model on its own time scale, so the ramp up to the
    # bound and the equilibrium at it can be seen.
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.1 * len(runs) + 0.8), squeeze=False)
    for ax, (model, rows, facts) in zip(axes[:, 0], runs):
        times, counts = tp.in_flight([(r["start"] - facts["t0"], r["end"] - facts["t0"]) for r in rows])
        ax.fill_between(times, counts, step="post", color=colour[model], alpha=0.35, linewidth=0)
        ax.step(times, counts, where="post", color=colour[model], linewidth=0.8)
        ax.axhline(facts["concurrency"], color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, max(facts["concurrency"], max(counts, default=1)) * 1.15)
        ax.set_xlim(left=0)
        ax.set_ylabel("in flight")
        ax.set_title(f"{model}: bound C={facts['concurrency']} (dashed), peak {max(counts, default=0)}",
                     loc="left", fontsize=10)
    axes[-1, 0].set_xlabel("time since the model's first request (s)")
    fig.suptitle("Requests in flight over time")
    fig.tight_layout()
    fig.savefig(os.path.join(args.dir, "inflight.png"))
    plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Draws the crawl stage's pictures from its timelines and crawl-summary.json.

  crawl-chronology-<model>.png  every request a horizontal line from its start to its
                                end, request number on the y axis (the book's Figures
                                8-2, 8-4 to 8-6)
  crawl-comparison.png          every model as a small multiple: the concurrent ones on
                                one shared time axis, the serial one on its own (it is
                                100x longer)
  crawl-inflight.png            requests in flight over time, per model
  crawl-latency.png             each model's overhead spectrum (time beyond the delay,
                                by percentile, log axes)

Usage: plot_crawl.py DIR
"""
import os
import sys

from matplotlib.collections import LineCollection

import testbed_plots as tp
from testbed_plots import runfolder


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


def draw(directory, summary):
    plt = tp.setup_matplotlib()
    colour = tp.model_colours(summary)
    runs = []
    for s in summary["runs"]:
        model = s["model"]
        path = runfolder.path(directory, runfolder.client_timeline_name(model))
        if os.path.exists(path):
            rows = tp.read_client_timeline(path)
            runs.append((model, rows, tp.describe(model, rows, s)))
    if not runs:
        print(f"plot_crawl: no client timelines in {directory}", file=sys.stderr)
        return 1

    for model, rows, facts in runs:
        fig, ax = plt.subplots(figsize=(9, 5.5))
        draw_chronology(ax, model, rows, facts, line_width(len(rows)), colour[model])
        ax.set_title(title(model, facts))
        ax.set_xlabel("time since the first request (s)")
        ax.set_ylabel("request number")
        fig.tight_layout()
        fig.savefig(tp.picture(directory, "crawl", f"chronology-{model}"))
        plt.close(fig)

    # Small multiples. The concurrent models share one time axis, so their
    # blocks compare; a one-in-flight model (serial) is 100x longer and gets
    # its own, above them, instead of flattening them.
    lone = [run for run in runs if run[2]["concurrency"] == 1]
    shared = [run for run in runs if run[2]["concurrency"] != 1]
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 1.9 * len(runs) + 1.0), squeeze=False)
    axes = axes[:, 0]
    for ax in axes[len(lone) + 1:]:
        ax.sharex(axes[len(lone)])
    for ax, (model, rows, facts) in zip(axes, lone + shared):
        draw_chronology(ax, model, rows, facts, line_width(len(rows)), colour[model])
        ax.set_ylabel("request")
        own = " (its own time scale)" if facts["concurrency"] == 1 and shared else ""
        ax.set_title(f"{model}: {facts['seconds']:.3f} s{own}", loc="left", fontsize=10)
    if shared:
        longest = max(max(facts["seconds"], max((r["end"] - facts["t0"] for r in rows), default=0))
                      for _, rows, facts in shared)
        axes[-1].set_xlim(0, longest * 1.02 or 1)
    axes[-1].set_xlabel("time since the model's first request (s)")
    f0 = runs[0][2]
    conc = max(facts["concurrency"] for _, _, facts in runs)
    fig.suptitle(f"Request chronologies: N={f0['num']} URLs, delay {f0['delay_ms']} ms, C={conc} "
                 f"(serial: one at a time)")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "crawl", "comparison"))
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
    fig.suptitle(f"Requests in flight over time: N={f0['num']} URLs, delay {f0['delay_ms']} ms, C={conc}")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "crawl", "inflight"))
    plt.close(fig)

    spectra = {s["model"]: s["overhead_us_spectrum"] for s in summary["runs"] if s.get("overhead_us_spectrum")}
    if spectra:
        draw_latency(plt, runs, spectra, colour, tp.picture(directory, "crawl", "latency"))
    return 0


def main():
    return tp.stage_main(__doc__, "crawl", draw)


def draw_latency(plt, runs, spectra, colour, path):
    """Overhead by percentile, HDR-histogram style (testbed_plots.spectrum_axis,
    as report.html draws it), one line per model. Every value is crawl's own
    (overhead_us_spectrum)."""
    fig, ax = plt.subplots(figsize=(9.5, 5.8))
    ticks = tp.SPECTRUM_TICKS
    for model, rows, facts in runs:
        if model not in spectra:
            continue
        xs, ys, ticks = tp.spectrum_axis(spectra[model])
        ax.plot(xs, ys, "o-", color=colour[model], markersize=3, label=f"{model} (max {ys[-1]:.2f} ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([x for x, _ in ticks])
    ax.set_xticklabels([label for _, label in ticks])
    ax.minorticks_off()
    ax.set_xlabel("percentile of requests (the rightmost point of each line is its slowest request)")
    ax.set_ylabel("overhead: time beyond the server's delay (ms, log)")
    f0 = runs[0][2]
    ax.set_title(f"Where each model loses time: N={f0['num']}, delay {f0['delay_ms']} ms, "
                 f"C={max(f['concurrency'] for _, _, f in runs)}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

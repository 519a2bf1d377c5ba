#!/usr/bin/env python3
"""Draws the scale stage (scale.csv and scale-summary.json): efficiency, CPU per 1k
requests and peak memory of the crawl against the concurrency C, one line per
model (the Python models dashed, in their C++ counterpart's colour), log x. A
point a model could not run is marked with an x at the bottom of each panel and
its reason listed under the chart (the points the stage chose not to run, in
one line).

Usage: plot_scale.py DIR   (writes DIR/scale.png)
"""
import sys

import testbed_plots as tp
from testbed_plots import runfolder


def draw(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("scale")))
    if not rows:
        print("plot_scale: scale.csv has no rows", file=sys.stderr)
        return 1
    styles = tp.model_styles(summary)
    models = list(styles)
    plt = tp.setup_matplotlib()
    panels = [("efficiency", "efficiency (ideal / measured)", 1.0),
              ("cpu_ms_per_1k", "CPU ms per 1k requests", 1.0),
              ("peak_rss_kib", "peak RSS (MB)", 1 / 1024)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    failures, skipped = [], set()
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        if not mine:  # serial is not part of the stage; it keeps its colour slot
            continue
        ok = sorted((int(r["concurrency"]), r) for r in mine if not r["error"])
        bad = sorted(int(r["concurrency"]) for r in mine if r["error"] and not r["error"].startswith("not run:"))
        failures += [f"{model} at C={r['concurrency']}: {r['error']}" for r in mine
                     if r["error"] and not r["error"].startswith("not run:")]
        skipped.update(r["error"] for r in mine if r["error"].startswith("not run:"))
        colour, dashed, marker = styles[model]
        for ax, (key, _, scale) in zip(axes, panels):
            ax.plot([c for c, _ in ok], [float(r[key]) * scale for _, r in ok], marker + ("--" if dashed else "-"),
                    color=colour, label=model, markersize=5 if dashed else 6)
            if bad:
                ax.plot(bad, [0] * len(bad), "x", color=colour, markersize=10, mew=2)
    for ax, (key, label, _) in zip(axes, panels):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent requests C (log)")
        if key == "cpu_ms_per_1k":  # Python's CPU a request is ten times C++'s: log
            ax.set_yscale("log")
            label += " (log)"
        else:
            ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
    axes[0].axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
    axes[0].legend(loc="lower left", fontsize=7, ncol=2)
    failures += [f"Python models {e}" for e in sorted(skipped)]
    r0 = rows[0]
    fig.suptitle(f"How each model scales: N = {int(r0['num']) // int(r0['concurrency'])} x C requests, "
                 f"delay {r0['delay_ms']} ms (x: could not run)")
    if failures:
        fig.text(0.01, 0.01, "\n".join(failures)[:600], fontsize=7, va="bottom")
        fig.subplots_adjust(bottom=0.12 + 0.03 * min(len(failures), 6))
    fig.tight_layout(rect=(0, 0.04 * min(len(failures), 6), 1, 0.95))
    fig.savefig(tp.picture(directory, "scale"))
    return 0


def main():
    return tp.stage_main(__doc__, "scale", draw)


if __name__ == "__main__":
    sys.exit(main())

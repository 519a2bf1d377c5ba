#!/usr/bin/env python3
"""Draws spike.png from a spike stage (bench/spike.py): every concurrent model
in an open loop whose rate spikes past what its C slots carry, once for each
work on an answer (a row each).

  left   the p99 latency from due per 100 ms window of due times (log), one
         colour per model; the dotted lines mark the spike, the thin one the
         delay. The climb is the backlog; the fall back to the delay is the
         recovery, each model's in its legend.
  right  the requests in flight at each window's end, against the cap C
         (dashed): how fast each model fills its slots, and how long it
         keeps them full.

Every figure is crawl's own (spike-summary.json). Usage: plot_spike.py DIR
"""
import sys

from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

import testbed_plots as tp


def recovery(o):
    return "not within the run" if o.get("recovery_s") is None else f"recovered in {o['recovery_s']:.2f} s"


def draw(directory, summary):
    runs = [r for r in summary["runs"] if (r.get("open_loop") or {}).get("over_time")]
    if not runs:
        print("plot_spike: the spike stage has no runs", file=sys.stderr)
        return 1
    works = list(dict.fromkeys(r.get("work_spec") for r in runs))
    colour = tp.model_colours(summary)
    s = summary.get("settings") or {}
    plt = tp.setup_matplotlib()
    fig, axes = plt.subplots(len(works), 2, figsize=(13, 4.2 * len(works)), squeeze=False)
    for (lat, inflight), work in zip(axes, works):
        mine = [r for r in runs if r.get("work_spec") == work]
        for r in mine:
            o = r["open_loop"]
            t = [w["t"] for w in o["over_time"]]
            lat.plot(t, [w["p99_from_due_ms"] for w in o["over_time"]], "-", color=colour[r["model"]],
                     linewidth=1.2, label=f"{r['model']}: {recovery(o)}")
            inflight.plot(t, [w["in_flight"] for w in o["over_time"]], "-", color=colour[r["model"]],
                          linewidth=1.2, label=f"{r['model']}: backlog up to {o['peak_backlog']}")
        o = mine[0]["open_loop"]
        for ax in (lat, inflight):
            for x in (s.get("at_s"), o.get("spike_end_s")):
                if x is not None:
                    ax.axvline(x, color="grey", linestyle=":", linewidth=1.2)
            ax.set_xlabel("time from the first due (s)")
            ax.legend(fontsize=8)
        lat.axhline(mine[0]["delay_ms"], color="black", linewidth=0.6, alpha=0.5)
        lat.set_yscale("log")
        lat.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
        lat.yaxis.set_major_formatter(ScalarFormatter())
        lat.yaxis.set_minor_formatter(NullFormatter())
        lat.set_ylabel("p99 latency from due (ms, log)")
        lat.set_title(f"work {work}: {o['rate_profile']}, C={mine[0]['concurrency']}, "
                      f"delay {mine[0]['delay_ms']} ms", loc="left", fontsize=10)
        inflight.axhline(mine[0]["concurrency"], color="grey", linestyle="--", linewidth=0.8)
        inflight.set_ylabel("requests in flight")
        inflight.set_ylim(bottom=0)
    fig.suptitle("A spike past capacity: each model's backlog and its recovery")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "spike"))
    plt.close(fig)
    return 0


def main():
    return tp.stage_main(__doc__, "spike", draw)


if __name__ == "__main__":
    sys.exit(main())

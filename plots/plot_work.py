#!/usr/bin/env python3
"""Draws work.png from the work stage (work.csv and work-summary.json): every
concurrent model with CPU work on each answer, against the work per answer.

  left    seconds for the run, one line per model (and per --loops for the
          event-loop models, dashed), with the bounds below which no run can
          go: the delays' ideal, and the work spread over one core and over
          every core (grey)
  middle  efficiency (ideal / measured; with work the ideal is the larger of
          the delays' and the work's bound): where a line falls, that model
          has left the I/O-bound regime
  right   CPU per 1k requests: the work itself plus what the model adds

Every figure is crawl's own (--json). Usage: plot_work.py DIR
"""
import os
import sys

import testbed_plots as tp
from testbed_plots import runfolder


def draw(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("work")))
    if not rows:
        print("plot_work: work.csv has no rows", file=sys.stderr)
        return 1
    s = summary["settings"]
    colour = tp.model_colours(summary)
    plt = tp.setup_matplotlib()
    fig, (secs, eff, cpu) = plt.subplots(1, 3, figsize=(16, 5.2))
    for (model, loops) in dict.fromkeys((r["model"], int(r["loops"])) for r in rows):
        mine = sorted((int(r["work_us"]), r) for r in rows if r["model"] == model and int(r["loops"]) == loops)
        x = [w / 1000 for w, _ in mine]
        style = "o-" if loops == 1 else "s--"
        label = model + (f" --loops {loops}" if loops > 1 else "")
        secs.plot(x, [float(r["seconds"]) for _, r in mine], style, color=colour[model], markersize=4, label=label)
        eff.plot(x, [float(r["efficiency"] or 0) for _, r in mine], style, color=colour[model], markersize=4)
        cpu.plot(x, [float(r["cpu_ms_per_1k"]) for _, r in mine], style, color=colour[model], markersize=4)
    works = sorted({int(r["work_us"]) for r in rows})
    cores = os.cpu_count() or 1
    delays = min(float(r["ideal_seconds"]) for r in rows if int(r["work_us"]) == 0) if 0 in works else None
    xs = [w / 1000 for w in works]
    if delays:
        secs.axhline(delays, color="black", linewidth=0.8, label="the delays' ideal")
    secs.plot(xs, [s["num"] * w / 1e6 for w in works], ":", color="grey", label="the work on one core")
    if cores > 1:
        secs.plot(xs, [s["num"] * w / 1e6 / cores for w in works], "-.", color="grey",
                  label=f"the work on {cores} cores")
    secs.set_ylabel("seconds for the run")
    eff.set_ylabel("efficiency (ideal / measured)")
    eff.set_ylim(0, 1.05)
    eff.axhline(1, color="grey", linestyle="--", linewidth=0.8)
    cpu.set_ylabel("CPU ms per 1k requests")
    for ax in (secs, eff, cpu):
        ax.set_xlabel("CPU work on each answer (ms)")
        ax.set_xscale("symlog", linthresh=0.25)
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:g}" for x in xs])
    secs.legend(fontsize=7)
    fig.suptitle(f"CPU work on every answer: N={s['num']}, C={s['concurrency']}, delay {s['delay_ms']} ms "
                 "(dashed: the event-loop models on more loops)")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "work"))
    plt.close(fig)
    return 0


def main():
    return tp.stage_main(__doc__, "work", draw)


if __name__ == "__main__":
    sys.exit(main())

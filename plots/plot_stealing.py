#!/usr/bin/env python3
"""Draws stealing.png from the stealing stage (stealing.csv and
stealing-summary.json): uneven CPU work on each answer, on one event loop, on
static shards of it (--loops) and on the pool models (--threads), each beside
the same runs with no work.

  efficiency      ideal / measured (with work the ideal is the larger of the
                  delays' and the work spread over the threads the model uses)
  overhead        each request's time beyond its delay: p50 (the bar) and p99
                  (the tick), log scale: where queued answers wait
  CPU per 1k      the work itself and what each design adds to it (log)
  busiest share   the busiest thread's part of the work (1/threads: even)

Every figure is crawl's own (--json). Usage: plot_stealing.py DIR
"""
import sys

import testbed_plots as tp
from testbed_plots import runfolder


def variant(r):
    if r["threads"]:
        return f"{r['model']}\n--threads {r['threads']}"
    return f"{r['model']}\n--loops {r['loops']}"


def draw(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("stealing")))
    if not rows:
        print("plot_stealing: stealing.csv has no rows", file=sys.stderr)
        return 1
    s = summary["settings"]
    colour = tp.model_colours(summary)
    names = list(dict.fromkeys(variant(r) for r in rows))
    works = list(dict.fromkeys(r["work"] for r in rows))
    by = {(variant(r), r["work"]): r for r in rows}
    plt = tp.setup_matplotlib()
    fig, (eff, over, cpu, share) = plt.subplots(1, 4, figsize=(18, 5.2))
    width = 0.8 / max(1, len(works))
    num = lambda r, k: float(r[k]) if r and r.get(k) not in (None, "") else 0.0  # noqa: E731
    for k, work in enumerate(works):
        xs = [i + (k - (len(works) - 1) / 2) * width for i in range(len(names))]
        pts = [by.get((n, work)) for n in names]
        colours = [colour.get(p["model"], "#333") if p else "#ccc" for p in pts]
        hatch = None if work == "none" else "//"
        alpha = 0.45 if work == "none" else 1.0
        label = "no work" if work == "none" else f"work {work}"
        eff.bar(xs, [num(p, "efficiency") for p in pts], width, color=colours, alpha=alpha, hatch=hatch, label=label)
        over.bar(xs, [num(p, "overhead_p50_us") / 1000 for p in pts], width, color=colours, alpha=alpha, hatch=hatch)
        over.scatter(xs, [num(p, "overhead_p99_us") / 1000 for p in pts], marker="_", s=300, color="black", zorder=3)
        cpu.bar(xs, [num(p, "cpu_ms_per_1k") for p in pts], width, color=colours, alpha=alpha, hatch=hatch)
        if work != "none":
            share.bar(xs, [num(p, "busiest_share") for p in pts], width, color=colours, hatch=hatch)
    for ax in (eff, over, cpu, share):
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
    eff.set_ylabel("efficiency (ideal / measured)")
    eff.set_ylim(0, 1.05)
    eff.axhline(1, color="grey", linestyle="--", linewidth=0.8)
    eff.legend(fontsize=7, loc="lower left")
    over.set_ylabel("overhead p50 (bar) and p99 (tick), ms")
    over.set_yscale("log")
    cpu.set_ylabel("CPU ms per 1k requests (log)")
    cpu.set_yscale("log")
    share.set_ylabel("the busiest thread's share of the work")
    share.set_ylim(0, 1.05)
    share.axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
    fig.suptitle(f"Uneven work: one loop, static shards and a pool of threads: N={s['num']}, C={s['concurrency']}, "
                 f"delay {s['delay_ms']} ms (hatched: with work, faded: none)")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "stealing"))
    plt.close(fig)
    return 0


def main():
    return tp.stage_main(__doc__, "stealing", draw)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Draws load.png from a load stage (bench/load.py): every concurrent model in an
open loop at a series of offered rates against one fixed delay.

  left   latency from when each request was due (what a user of the service
         sees), p99 solid and p50 dashed, against the offered rate, one colour per
         model; the dotted line is the rate C slots can carry (C / delay). Below it
         every model holds the delay; past it requests queue for a slot and the
         latency climbs: the hockey stick.
  right  the requests the server held on average against the offered rate, and
         Little's law (rate x delay, the line) with the cap C (dashed): a model
         follows the line until it runs out of slots.

Every figure is crawl's own (load-summary.json). Usage: plot_load.py DIR
"""
import os
import sys

from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

import testbed_plots as tp


def draw(directory, summary):
    runs = summary["runs"]
    if not runs:
        print("plot_load: the load stage has no runs", file=sys.stderr)
        return 1
    models = list(dict.fromkeys(s["model"] for s in runs))
    colour = tp.model_colours(summary)
    plt = tp.setup_matplotlib()
    fig, (lat, held) = plt.subplots(1, 2, figsize=(13, 5.2))
    for model in models:
        mine = sorted((s for s in runs if s["model"] == model), key=lambda s: s["open_loop"]["rate_per_s"])
        rates = [s["open_loop"]["rate_per_s"] for s in mine]
        p99 = [(s["open_loop"]["latency_from_due_ms"] or {}).get("p99") for s in mine]
        p50 = [(s["open_loop"]["latency_from_due_ms"] or {}).get("p50") for s in mine]
        lat.plot(rates, p99, "o-", color=colour[model], markersize=4, label=f"{model} p99")
        lat.plot(rates, p50, "--", color=colour[model], linewidth=1, alpha=0.8)
        held.plot(rates, [s["open_loop"]["server_mean_in_flight"] for s in mine], "o-", color=colour[model],
                  markersize=4, label=model)
    first = runs[0]
    capacity = first["open_loop"]["capacity_per_s"]
    conc, delay = first["concurrency"], first["delay_ms"]
    if capacity:
        lat.axvline(capacity, color="grey", linestyle=":", linewidth=1.2)
        lat.text(capacity, 0.98, f" C / delay = {capacity:.0f}/s",
                 transform=lat.get_xaxis_transform(), va="top", fontsize=8, color="grey")
    lat.axhline(delay, color="black", linewidth=0.6, alpha=0.5)
    lat.set_yscale("log")
    lat.yaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
    lat.yaxis.set_major_formatter(ScalarFormatter())
    lat.yaxis.set_minor_formatter(NullFormatter())
    lat.text(0.01, delay, f" the delay, {delay} ms", transform=lat.get_yaxis_transform(), va="bottom",
             fontsize=8, color="black", alpha=0.7)
    lat.set_xlabel("offered rate (requests per second)")
    lat.set_ylabel("latency from when the request was due (ms, log)")
    lat.set_title(f"Open loop, delay {delay} ms, C={conc}: p99 solid, p50 dashed", loc="left", fontsize=10)
    lat.legend(fontsize=8)
    all_rates = sorted({s["open_loop"]["rate_per_s"] for s in runs})
    little = {}
    for s in runs:
        little.setdefault(s["open_loop"]["rate_per_s"], s["open_loop"]["littles_law_in_flight"])
    held.plot(all_rates, [little[r] for r in all_rates], "-", color="black", linewidth=1,
              label="Little's law: rate x delay")
    held.axhline(conc, color="grey", linestyle="--", linewidth=1, label=f"the cap, C={conc}")
    held.set_xlabel("offered rate (requests per second)")
    held.set_ylabel("requests the server held, on average")
    held.set_title("In flight at the server against Little's law (its mean is over the whole run,\n"
                   "whose last delay only drains: d / (duration + d) under the line)", loc="left", fontsize=10)
    held.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "load"))
    plt.close(fig)
    return 0


def main():
    return tp.stage_main(__doc__, "load", draw)


if __name__ == "__main__":
    sys.exit(main())

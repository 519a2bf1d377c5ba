#!/usr/bin/env python3
"""Draws connections.png from the connections stage (connections.csv and
connections-summary.json): every concurrent model under each connection
policy, at each concurrency C (one row of panels a C).

  left    efficiency (ideal / measured) per policy, one line per model; the
          black star is the machine's floor for the close policy: bare
          sockets (connect-floor) opening the same connections, C at a time
  middle  CPU per 1k requests per policy
  right   the time a request spent opening its connection, p50 (solid) and
          p99 (dotted), per policy

Every crawl figure is crawl's own (--json). Usage: plot_connections.py DIR
"""
import sys

import testbed_plots as tp
from testbed_plots import runfolder


def draw(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("connections")))
    if not rows:
        print("plot_connections: connections.csv has no rows", file=sys.stderr)
        return 1
    s = summary["settings"]
    colour = tp.model_colours(summary)
    policies = s["policies"]
    concs = s["concurrency"]
    plt = tp.setup_matplotlib()
    fig, axes = plt.subplots(len(concs), 3, figsize=(16, 4.2 * len(concs) + 0.6), squeeze=False)
    x = list(range(len(policies)))
    for (eff, cpu, con), conc in zip(axes, concs):
        mine = [r for r in rows if int(r["concurrency"]) == conc]
        for model in dict.fromkeys(r["model"] for r in mine if r["model"] != "connect-floor"):
            by = {r["policy"]: r for r in mine if r["model"] == model}
            pts = [by.get(p) for p in policies]
            num = lambda key: [float(r[key]) if r and r[key] else None for r in pts]  # noqa: E731
            eff.plot(x, num("efficiency"), "o-", color=colour[model], label=model)
            cpu.plot(x, num("cpu_ms_per_1k"), "o-", color=colour[model])
            con.plot(x, [v / 1000 if v else None for v in num("connect_p50_us")], "o-", color=colour[model])
            con.plot(x, [v / 1000 if v else None for v in num("connect_p99_us")], ":", color=colour[model])
        for r in mine:
            if r["model"] == "connect-floor" and r["efficiency"]:
                eff.plot([policies.index("close")], [float(r["efficiency"])], "*", color="black", markersize=13,
                         label="bare sockets (connect-floor)")
        eff.set_ylim(0, 1.05)
        eff.set_ylabel(f"C={conc}: efficiency")
        cpu.set_ylabel("CPU ms per 1k requests")
        con.set_ylabel("connect time (ms, p50 and p99)")
        con.set_yscale("symlog", linthresh=0.1)
        for ax in (eff, cpu, con):
            ax.set_xticks(x)
            ax.set_xticklabels(policies)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"What a connection costs: N = {s['multiple']} x C requests, delay {s['delay_ms']} ms; "
                 "keep-alive, a connection reused a few times, a connect for every request")
    fig.tight_layout()
    fig.savefig(tp.picture(directory, "connections"))
    plt.close(fig)
    return 0


def main():
    return tp.stage_main(__doc__, "connections", draw)


if __name__ == "__main__":
    sys.exit(main())

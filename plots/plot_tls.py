#!/usr/bin/env python3
"""Draws tls.png from the tls stage (tls.csv and tls-summary.json): every
concurrent model over TLS, one row of panels for each key and concurrency C.

  left    efficiency (ideal / measured) per variant, one line per model: over
          TLS keep-alive, a new connection per request resuming its session,
          one with a full handshake every time; and plain HTTP keep-alive
          and close (from the same C) where the stage ran them
  middle  CPU per 1k requests per variant
  right   the handshake's time, p50 (solid) and p99 (dotted), per TLS variant

Every figure is crawl's own (--json). Usage: plot_tls.py DIR
"""
import sys

import testbed_plots as tp
from testbed_plots import runfolder


def draw(directory, summary):
    rows = tp.read_rows(runfolder.path(directory, runfolder.rows_name("tls")))
    if not rows:
        print("plot_tls: tls.csv has no rows", file=sys.stderr)
        return 1
    s = summary["settings"]
    colour = tp.model_colours(summary)
    variants = s["variants"]
    tls_variants = [v for v in variants if not v.startswith("plain")]
    panels = [(key, conc) for key in s["keys"] for conc in s["concurrency"]]
    plt = tp.setup_matplotlib()
    fig, axes = plt.subplots(len(panels), 3, figsize=(17, 4.2 * len(panels) + 0.6), squeeze=False)
    for (eff, cpu, hs), (key, conc) in zip(axes, panels):
        mine = [r for r in rows if int(r["concurrency"]) == conc and r["key"] in (key, "none")]
        for model in dict.fromkeys(r["model"] for r in mine):
            by = {r["variant"]: r for r in mine if r["model"] == model}
            pts = [by.get(v) for v in variants]
            num = lambda key, pts=pts: [float(r[key]) if r and r[key] else None for r in pts]  # noqa: E731
            x = list(range(len(variants)))
            eff.plot(x, num("efficiency"), "o-", color=colour[model], label=model)
            cpu.plot(x, num("cpu_ms_per_1k"), "o-", color=colour[model])
            tpts = [by.get(v) for v in tls_variants]
            tx = list(range(len(tls_variants)))
            hs.plot(tx, [float(r["tls_p50_us"]) / 1000 if r and r["tls_p50_us"] else None for r in tpts], "o-",
                    color=colour[model])
            hs.plot(tx, [float(r["tls_p99_us"]) / 1000 if r and r["tls_p99_us"] else None for r in tpts], ":",
                    color=colour[model])
        eff.set_ylim(0, 1.05)
        eff.set_ylabel(f"{key}, C={conc}: efficiency")
        cpu.set_ylabel("CPU ms per 1k requests")
        hs.set_ylabel("handshake (ms, p50 and p99)")
        hs.set_yscale("log")
        for ax, names in ((eff, variants), (cpu, variants), (hs, tls_variants)):
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=15, fontsize=8)
    axes[0, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"What TLS costs: N = {s['multiple']} x C requests, delay {s['delay_ms']} ms; keep-alive, a new "
                 "connection per request resuming its session, a full handshake every time, and plain HTTP")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(tp.picture(directory, "tls"))
    plt.close(fig)
    return 0


def main():
    return tp.stage_main(__doc__, "tls", draw)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The load stage: every concurrent model in an open loop (crawl --rate) at a
series of offered rates against one fixed delay, past the rate its
--concurrency slots can carry (C / delay). Requests are due at the offered rate
whatever the answers do, so once a model cannot keep up, requests queue for a
slot and their latency from when they were due grows without bound: the
hockey stick. Writes, into --out-dir:
    load.csv            one row per (model, rate):
        model,offered_rate,achieved_rate,num,seconds,kept_up,late_over_1ms,
        due_p50_ms,due_p99_ms,due_max_ms,service_p50_ms,service_p99_ms,send_lag_p99_ms,
        littles_law_in_flight,server_mean_in_flight,capacity_per_s,failed
    load-summary.json   every run's crawl --json summary
Every figure is crawl's own (--json, its open_loop section). Standard library
only; plots/plot_load.py draws load.png.
"""
import argparse
import sys

from runner import Progress, write_results, int_list, list_models, run_json

FIELDS = ["model", "offered_rate", "achieved_rate", "num", "seconds", "kept_up", "late_over_1ms", "due_p50_ms",
          "due_p99_ms", "due_max_ms", "service_p50_ms", "service_p99_ms", "send_lag_p99_ms",
          "littles_law_in_flight", "server_mean_in_flight", "capacity_per_s", "failed"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="delayserver base URL")
    ap.add_argument("--crawl", default="build/crawl", help="path to the crawl binary")
    ap.add_argument("--rates", type=int_list, default=[200, 400, 600, 800, 900, 1000, 1100, 1200],
                    help="offered rates, requests per second (default %(default)s)")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--delay", type=int, default=100, help="server delay, ms (default 100)")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds of arrivals per point (default 2)")
    ap.add_argument("--arrivals", default="constant", choices=["constant", "poisson"])
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()
    models = [m["name"] for m in list_models(args.crawl, concurrent=True)]
    points = [(m, r) for m in models for r in args.rates]
    progress = Progress("load", len(points))
    summaries, rows, failed = [], [], 0
    for k, (model, rate) in enumerate(points, 1):
        argv = [args.crawl, "--model", model, "--url", args.url, "--rate", str(rate), "--duration",
                str(args.duration), "--arrivals", args.arrivals, "--concurrency", str(args.concurrency),
                "--delay", str(args.delay), "--seed", str(args.seed), "--name", f"load-{model}", "--json"]
        s, rc, err = run_json(argv, f"load: {model} at {rate}/s")
        if rc != 0:
            print(f"load: {model} at {rate}/s exited {rc}: {err.strip()}", file=sys.stderr)
            failed += 1
        summaries.append(s)
        o = s["open_loop"]
        due, service, lag = o["latency_from_due_ms"] or {}, o["service_ms"] or {}, o["send_lag_ms"] or {}
        rows.append({"model": model, "offered_rate": rate, "achieved_rate": o["achieved_rate_per_s"],
                     "num": s["num"], "seconds": f"{s['seconds']:.6f}", "kept_up": int(o["kept_up"]),
                     "late_over_1ms": o["late_over_1ms"], "due_p50_ms": due.get("p50", ""),
                     "due_p99_ms": due.get("p99", ""), "due_max_ms": due.get("max", ""),
                     "service_p50_ms": service.get("p50", ""), "service_p99_ms": service.get("p99", ""),
                     "send_lag_p99_ms": lag.get("p99", ""), "littles_law_in_flight": o["littles_law_in_flight"],
                     "server_mean_in_flight": o["server_mean_in_flight"], "capacity_per_s": o["capacity_per_s"],
                     "failed": s["failed"]})
        progress.step(k, f"{model} at {rate}/s: p99 from due {due.get('p99', 0):.1f} ms, "
                         f"{'kept up' if o['kept_up'] else 'fell behind'}")
    progress.done()
    write_results(args.out_dir, "load", summaries, FIELDS, rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

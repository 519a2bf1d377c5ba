"""The load stage: every concurrent model in an open loop (crawl --rate) at a
series of offered rates against one fixed delay, past the rate its
--concurrency slots can carry (C / delay). Requests are due at the offered rate
whatever the answers do, so once a model cannot keep up, requests queue for a
slot and their latency from when they were due grows without bound: the
hockey stick. One row per (model, rate) in load.csv; every figure is crawl's
own (--json, its open_loop section); plots/plot_load.py draws it."""
from runner import Progress, run_json
PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "offered_rate", "achieved_rate", "num", "seconds", "kept_up", "late_over_1ms", "due_p50_ms",
          "due_p99_ms", "due_max_ms", "service_p50_ms", "service_p99_ms", "send_lag_p99_ms",
          "littles_law_in_flight", "server_mean_in_flight", "capacity_per_s", "failed"]


def row(r, rate):
    o = r["open_loop"]
    due, service, lag = o["latency_from_due_ms"] or {}, o["service_ms"] or {}, o["send_lag_ms"] or {}
    return {"model": r["model"], "offered_rate": rate, "achieved_rate": o["achieved_rate_per_s"],
            "num": r["num"], "seconds": f"{r['seconds']:.6f}", "kept_up": int(o["kept_up"]),
            "late_over_1ms": o["late_over_1ms"], "due_p50_ms": due.get("p50", ""),
            "due_p99_ms": due.get("p99", ""), "due_max_ms": due.get("max", ""),
            "service_p50_ms": service.get("p50", ""), "service_p99_ms": service.get("p99", ""),
            "send_lag_p99_ms": lag.get("p99", ""), "littles_law_in_flight": o["littles_law_in_flight"],
            "server_mean_in_flight": o["server_mean_in_flight"], "capacity_per_s": o["capacity_per_s"],
            "failed": r["failed"]}


def run(ctx, s, got):
    models = [m["name"] for m in ctx.models if not m["one_in_flight"]]
    points = [(m, r) for m in models for r in s["rates"]]
    progress = Progress("load", len(points))
    for k, (model, rate) in enumerate(points, 1):
        argv = [ctx.crawl, "--model", model, "--url", ctx.url, "--rate", str(rate), "--duration",
                str(s["duration_s"]), "--arrivals", s["arrivals"], "--concurrency", str(s["concurrency"]),
                "--delay", str(s["delay_ms"]), "--seed", str(ctx.seed), "--name", f"load-{model}", "--json"]
        r, rc, err = run_json(argv, f"load: {model} at {rate}/s")
        got.runs.append(r)
        got.rows.append(row(r, rate))
        if rc != 0:
            got.fail(f"{model} at {rate}/s exited {rc}: {err.strip()}")
        o = r["open_loop"]
        progress.step(k, f"{model} at {rate}/s: p99 from due {(o['latency_from_due_ms'] or {}).get('p99', 0):.1f} ms, "
                         f"{'kept up' if o['kept_up'] else 'fell behind'}")
    progress.done()

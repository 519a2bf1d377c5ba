"""The tails stage: the same N, C and long-tailed delays (the server draws
each URL's delay from its seed, so every run meets exactly the same ones) for
every concurrent model with its semaphore, and for every event-loop model in
the batched pattern (--batched: fire C, wait for all C, fire the next C, as
the book's AsyncBatcher does). Writes each run's timeline
(tails-MODEL[-batched].csv) and one row per run in tails.csv. Every figure is
crawl's own (--json): the ideal is a perfect semaphore's time with the delays
the server gave. plots/plot_tails.py draws it."""
import runfolder
from runner import Progress, run_json
PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "pattern", "num", "concurrency", "delay_ms", "delay_dist", "seconds", "ideal_seconds",
          "efficiency", "batched_ideal_seconds", "latency_p50_ms", "latency_p99_ms", "failed"]


def optional(v, spec=".6f"):
    return "" if v is None else format(v, spec)


def row(r, pattern):
    latency = r["latency_ms"] or {}
    return {"model": r["model"], "pattern": pattern, "num": r["num"], "concurrency": r["concurrency"],
            "delay_ms": r["delay_ms"], "delay_dist": r["delay_dist"], "seconds": f"{r['seconds']:.6f}",
            "ideal_seconds": f"{r['ideal_seconds']:.6f}", "efficiency": optional(r["efficiency"]),
            "batched_ideal_seconds": optional(r["batched_ideal_seconds"]),
            "latency_p50_ms": latency.get("p50", ""), "latency_p99_ms": latency.get("p99", ""),
            "failed": r["failed"]}


def run(ctx, s, got):
    table = [m for m in ctx.models if not m["one_in_flight"]]
    runs = [(m["name"], False) for m in table] + [(m["name"], True) for m in table if m["event_loops"]]
    progress = Progress("tails", len(runs))
    for k, (model, batched) in enumerate(runs, 1):
        pattern = "batched" if batched else "semaphore"
        timeline = runfolder.tails_timeline_name(model, batched)
        argv = [ctx.crawl, "--model", model, "--url", ctx.url, "--num", str(s["num"]),
                "--concurrency", str(s["concurrency"]), "--delay", str(s["delay_ms"]),
                "--delay-dist", s["delay_dist"], "--seed", str(ctx.seed), "--name", timeline[:-len(".csv")],
                "--timeline", ctx.file(timeline), "--json"] + (["--batched"] if batched else [])
        r, rc, err = run_json(argv, f"tails: {model} {pattern}")
        got.runs.append(r)
        got.rows.append(row(r, pattern))
        if rc != 0:
            got.fail(f"{model} {pattern} exited {rc}: {err.strip()}")
        progress.step(k, f"{model} {pattern}: {r['seconds']:.3f} s, ideal {r['ideal_seconds']:.3f} s "
                         + ("(no answer)" if r["efficiency"] is None else f"(efficiency {r['efficiency']:.3f})"))
    progress.done()

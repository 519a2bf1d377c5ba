"""The concurrency sweep (the book's Figure 8-3): time to fetch N URLs against
the number of concurrent requests, for several server delays: `crawl --json`
once per (delay, concurrency) point, one row each in sweep.csv. Every figure
is crawl's own; plots/plot_sweep.py draws it."""
from runner import Progress, run_json
PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "num", "delay_ms", "concurrency", "seconds", "ideal_seconds", "failed"]


def run(ctx, s, got):
    points = [(d, c) for d in s["delays_ms"] for c in s["concurrency"]]
    progress = Progress("sweep", len(points))
    for k, (delay, conc) in enumerate(points, 1):
        r, _, _ = run_json([ctx.crawl, "--model", s["model"], "--url", ctx.url, "--num", str(s["num"]),
                            "--delay", str(delay), "--concurrency", str(conc), "--seed", str(ctx.seed),
                            "--name", f"sweep-{s['model']}", "--json"], "sweep: crawl")
        got.runs.append(r)
        got.rows.append({"model": s["model"], "num": r["num"], "delay_ms": delay, "concurrency": conc,
                         "seconds": f"{r['seconds']:.6f}", "ideal_seconds": f"{r['ideal_seconds']:.6f}",
                         "failed": r["failed"]})
        if r["failed"]:
            got.fail(f"delay {delay} ms, C={conc}: {r['failed']} requests failed")
        progress.step(k, f"delay={delay} ms C={conc}: {r['seconds']:.3f} s")
    progress.done()

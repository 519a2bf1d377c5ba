"""The concurrency sweep (the book's Figure 8-3): time to fetch N URLs against
the number of concurrent requests, for several server delays: `crawl --json`
once per (delay, concurrency) point, one row each in sweep.csv. Beside it the
book's own asyncio crawler (the Python models of `python_models`, pycrawl/)
at the same points for the delays of `python_delays_ms`, fetching the same
URLs. Every figure is crawl's own (crawl summarize for the Python runs); a
Python point that cannot run is a row with its reason. plots/plot_sweep.py
draws it."""
import python_models
from runner import Progress, run_json
PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "num", "delay_ms", "concurrency", "seconds", "ideal_seconds", "failed", "error"]


def row(model, delay, conc, r, error=""):
    if r is None:
        return {"model": model, "num": "", "delay_ms": delay, "concurrency": conc, "seconds": "",
                "ideal_seconds": "", "failed": "", "error": error}
    return {"model": model, "num": r["num"], "delay_ms": delay, "concurrency": conc,
            "seconds": f"{r['seconds']:.6f}", "ideal_seconds": f"{r['ideal_seconds']:.6f}", "failed": r["failed"],
            "error": error}


def run(ctx, s, got):
    points = [(s["model"], d, c) for d in s["delays_ms"] for c in s["concurrency"]]
    points += [(m, d, c) for m in s["python_models"] for d in s["python_delays_ms"] for c in s["concurrency"]]
    got.extra["python_models"] = python_models.pymodels.table_json()
    progress = Progress("sweep", len(points))
    for k, (model, delay, conc) in enumerate(points, 1):
        if model.startswith("py-"):
            r, error = python_models.run_pycrawl(ctx, model, s["num"], conc, delay, s["timeout_s"],
                                                 name=f"sweep-{model}")
        else:
            r, _, _ = run_json([ctx.crawl, "--model", model, "--url", ctx.url, "--num", str(s["num"]),
                                "--delay", str(delay), "--concurrency", str(conc), "--seed", str(ctx.seed),
                                "--name", f"sweep-{model}", "--json"], "sweep: crawl")
            error = ""
        if r is not None:
            got.runs.append(r)
        got.rows.append(row(model, delay, conc, r, error))
        if error or (r and r["failed"]):
            got.fail(f"{model}, delay {delay} ms, C={conc}: {error or str(r['failed']) + ' requests failed'}")
        progress.step(k, f"{model} delay={delay} ms C={conc}: " + (f"{r['seconds']:.3f} s" if r else error))
    progress.done()

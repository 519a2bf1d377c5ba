"""The stealing stage: uneven CPU work on each answer (crawl --work
spin:us=N,dist=lognormal,...: some answers cost ten times others, and every
model does the same work on the same request), run on one event loop, on
static shards of it (--loops L: the URLs dealt out up front, a loop a thread,
as Seastar and Pingora run), and on each pool model (mn: tasks over --threads
L OS threads, any thread running any ready task, as Go, Loom and Tokio run
them), each with no work too. Where a shard's heavy answers queue on its loop
while another loop idles, the pool's free thread takes them: its efficiency
and its overhead tail show what that wins, its CPU per 1k what sharing one
run queue costs, and busiest_share how evenly each spread the work. One row
per run in stealing.csv; every figure is crawl's own (--json)."""
from runner import Progress, run_json

PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "loops", "threads", "work", "num", "concurrency", "delay_ms", "seconds", "ideal_seconds",
          "efficiency", "work_cpu_seconds", "work_bound_seconds", "busiest_share", "overhead_p50_us",
          "overhead_p99_us", "overhead_p999_us", "cpu_ms_per_1k", "failed"]


def variants(models, loop_model, lanes):
    """(model, flag, lanes): the loop model on each count of --loops, then
    every pool model of the table on as many --threads."""
    out = [(loop_model, "--loops", n) for n in lanes]
    return out + [(m["name"], "--threads", n) for m in models if m.get("pool") for n in lanes]


def label(model, flag, n):
    return f"{model} {flag} {n}"


def row(r, work):
    w, over = r.get("work") or {}, r.get("overhead_us") or {}
    f = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
    return {"model": r["model"], "loops": r["loops"], "threads": r.get("threads") or "", "work": work,
            "num": r["num"], "concurrency": r["concurrency"], "delay_ms": r["delay_ms"],
            "seconds": f(r["seconds"], ".6f"), "ideal_seconds": f(r["ideal_seconds"], ".6f"),
            "efficiency": f(r["efficiency"], ".6f"), "work_cpu_seconds": w.get("cpu_seconds", 0),
            "work_bound_seconds": w.get("bound_seconds", 0), "busiest_share": f(w.get("busiest_share"), ".4f"),
            "overhead_p50_us": over.get("p50", ""), "overhead_p99_us": over.get("p99", ""),
            "overhead_p999_us": over.get("p99.9", ""), "cpu_ms_per_1k": f(r["cost"]["cpu_ms_per_1k"], ".3f"),
            "failed": r["failed"]}


def run(ctx, s, got):
    points = [(work, v) for work in s["work"] for v in variants(ctx.models, s["loop_model"], s["lanes"])]
    progress = Progress("stealing", len(points))
    for k, (work, (model, flag, n)) in enumerate(points, 1):
        what = f"{label(model, flag, n)}, work {work}"
        argv = [ctx.crawl, "--model", model, flag, str(n), "--url", ctx.url, "--num", str(s["num"]),
                "--concurrency", str(s["concurrency"]), "--delay", str(s["delay_ms"]), "--work", work,
                "--seed", str(ctx.seed), "--name", f"stealing-{model}", "--json"]
        r, rc, err = run_json(argv, f"stealing: {what}")
        r["work_spec"] = work  # the run's key in the summary ("none" has no work section)
        got.runs.append(r)
        got.rows.append(row(r, work))
        if rc != 0:
            got.fail(f"{what} exited {rc}: {err.strip()}")
        over = (r.get("overhead_us") or {}).get("p99") or 0
        progress.step(k, f"{what}: {r['seconds']:.3f} s (efficiency {r['efficiency'] or 0:.3f}, "
                         f"overhead p99 {over / 1000:.1f} ms)")
    progress.done()

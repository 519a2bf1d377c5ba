"""The work stage: every concurrent model with CPU work on each answer (crawl
--work spin:us=N, the same for every model), at each work per answer, and the
event-loop models on more loops too. Work on one event loop delays every
other answer; the threads model spreads it over the cores; so here the models
part, each where its work's bound (its CPU spread over the threads it can use)
overtakes the delays. One row per run in work.csv; every figure is crawl's own
(--json: its work section, its ideal, its cost); plots/plot_work.py draws it."""
from runner import Progress, run_json

PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "loops", "work_us", "num", "concurrency", "delay_ms", "seconds", "ideal_seconds", "efficiency",
          "work_cpu_seconds", "work_bound_seconds", "work_threads", "cpu_ms_per_1k", "failed"]


def variants(models, loops):
    """(model, loops): every concurrent model on one loop, the event-loop ones on each of `loops` too."""
    out = [(m["name"], 1) for m in models if not m["one_in_flight"]]
    return out + [(m["name"], n) for n in loops if n > 1 for m in models if m["event_loops"]]


def row(r, work_us):
    w = r.get("work") or {}
    return {"model": r["model"], "loops": r["loops"], "work_us": work_us, "num": r["num"],
            "concurrency": r["concurrency"], "delay_ms": r["delay_ms"], "seconds": f"{r['seconds']:.6f}",
            "ideal_seconds": f"{r['ideal_seconds']:.6f}",
            "efficiency": "" if r["efficiency"] is None else f"{r['efficiency']:.6f}",
            "work_cpu_seconds": w.get("cpu_seconds", 0), "work_bound_seconds": w.get("bound_seconds", 0),
            "work_threads": w.get("threads", ""), "cpu_ms_per_1k": f"{r['cost']['cpu_ms_per_1k']:.3f}",
            "failed": r["failed"]}


def run(ctx, s, got):
    points = [(m, n, w) for w in s["work_us"] for m, n in variants(ctx.models, s["loops"])]
    progress = Progress("work", len(points))
    for k, (model, loops, work_us) in enumerate(points, 1):
        argv = [ctx.crawl, "--model", model, "--url", ctx.url, "--num", str(s["num"]),
                "--concurrency", str(s["concurrency"]), "--delay", str(s["delay_ms"]), "--loops", str(loops),
                "--work", f"spin:us={work_us}" if work_us else "none", "--seed", str(ctx.seed),
                "--name", f"work-{model}", "--json"]
        r, rc, err = run_json(argv, f"work: {model} --loops {loops} at {work_us} us")
        got.runs.append(r)
        got.rows.append(row(r, work_us))
        if rc != 0:
            got.fail(f"{model} --loops {loops} at {work_us} us exited {rc}: {err.strip()}")
        progress.step(k, f"{model} --loops {loops}, {work_us} us a request: {r['seconds']:.3f} s "
                         f"(efficiency {r['efficiency'] or 0:.3f})")
    progress.done()

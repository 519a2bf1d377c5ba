"""The scale stage: every concurrent model (crawl --list-models) at each
concurrency C, with N = a small multiple of C and a fixed delay; and the
concurrent Python models (pycrawl/) up to `python_max_concurrency` (past it,
each point is a row saying so: the stage's time is bounded). Where a
model cannot run a point (not enough threads, open files or memory), the
point is recorded with the reason and the stage goes on: a point a model
cannot run is a result, not a failure. One row per point in scale.csv; every
figure is crawl's own (--json); plots/plot_scale.py draws it. The runs at the
largest C write what they spent over time (scale-resources-MODEL-CN.csv), for
the connect storm's strips in the report."""
import subprocess

import python_models
import runfolder
from runner import Progress, last_json
PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "concurrency", "num", "delay_ms", "seconds", "ideal_seconds", "efficiency", "cpu_ms_per_1k",
          "peak_rss_kib", "peak_threads", "connections_opened", "failed", "error", "rss_kib_per_slot"]


def run_point(ctx, s, model, conc):
    """One crawl: its --json summary, or a stand-in that says why there is none."""
    num = s["multiple"] * conc
    argv = [ctx.crawl, "--model", model, "--url", ctx.url, "--num", str(num), "--concurrency", str(conc),
            "--delay", str(s["delay_ms"]), "--seed", str(ctx.seed), "--name", f"scale-{model}", "--json"]
    if conc == max(s["concurrency"]):  # the connect storm, over time
        argv += ["--resources", ctx.file(runfolder.resources_name("scale", f"{model}-C{conc}"))]
    stand_in = {"model": model, "concurrency": conc, "num": num, "delay_ms": s["delay_ms"]}
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=s["timeout_s"])
    except subprocess.TimeoutExpired:
        return {**stand_in, "error": f"no result within {s['timeout_s']} s"}
    r = last_json(p.stdout)
    if r is None:  # refused up front (exit 2) or died: the reason is on stderr
        return {**stand_in, "error": (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]}
    if r["failed"]:
        r["error"] = what_failed(r)
    return r


def what_failed(r):
    """Why a run's requests failed, from its summary: where it stopped, or each error and its count."""
    return r.get("stopped_early") or "; ".join(f"{n} x {msg}" for msg, n in r["errors"].items())


def run_python_point(ctx, s, model, conc):
    """A Python model's point: its summary (crawl summarize's), or a stand-in
    that says why there is none, as for crawl's."""
    num = s["multiple"] * conc
    stand_in = {"model": model, "concurrency": conc, "num": num, "delay_ms": s["delay_ms"]}
    if conc > s["python_max_concurrency"]:
        return {**stand_in, "error": f"not run: past python_max_concurrency ({s['python_max_concurrency']}), "
                                     "which keeps the stage's time bounded"}
    r, error = python_models.run_pycrawl(ctx, model, num, conc, s["delay_ms"], s["timeout_s"],
                                         name=f"scale-{model}")
    if r is None:
        return {**stand_in, "error": error}
    if r["failed"] or error:
        r["error"] = what_failed(r) or error
    return r


def row(r):
    if "seconds" not in r:
        return {k: r.get(k, "") for k in ("model", "concurrency", "num", "delay_ms", "error")} | {"failed": r["num"]}
    cost = r["cost"]
    return {"model": r["model"], "concurrency": r["concurrency"], "num": r["num"], "delay_ms": r["delay_ms"],
            "seconds": f"{r['seconds']:.6f}", "ideal_seconds": f"{r['ideal_seconds']:.6f}",
            "efficiency": "" if r["efficiency"] is None else f"{r['efficiency']:.6f}",
            "cpu_ms_per_1k": f"{cost['cpu_ms_per_1k']:.3f}", "peak_rss_kib": cost["peak_rss_kib"],
            "peak_threads": cost["peak_threads"], "connections_opened": cost["connections_opened"],
            "failed": r["failed"], "error": r.get("error", ""),
            "rss_kib_per_slot": f"{cost['rss_kib_per_slot']:.2f}" if cost.get("rss_kib_per_slot") else ""}


def run(ctx, s, got):
    models = [m["name"] for m in ctx.models if not m["one_in_flight"]] + s["python_models"]
    points = [(m, c) for c in s["concurrency"] for m in models]
    got.extra["python_models"] = python_models.pymodels.table_json()
    progress = Progress("scale", len(points))
    unfinished = 0
    for k, (model, conc) in enumerate(points, 1):
        r = run_python_point(ctx, s, model, conc) if model.startswith("py-") else run_point(ctx, s, model, conc)
        got.runs.append(r)
        got.rows.append(row(r))
        unfinished += bool(r.get("error"))
        what = r.get("error") or f"{r['seconds']:.3f} s, efficiency {r['efficiency']:.3f}"
        progress.step(k, f"{model} C={conc}: {what}")
    progress.done()
    if unfinished:
        print(f"scale: {unfinished} points did not complete (see the error column)", flush=True)

"""The spike stage: every concurrent model in an open loop whose rate spikes
past what its C slots carry (crawl --rate-profile spike:BASE,PEAK@AT+LENGTH;
capacity is C / delay), once with no work on an answer and once with CPU work
on each (crawl --work), so that the models part: how big each one's backlog
grows, and how long after the spike until its p99 latency from due is back
within 10% of the delay (its recovery). Each run also writes what it spent
over time (spike-resources-MODEL-WORK.csv). One row per run in spike.csv;
every figure is crawl's own (--json: open_loop's windows, peak backlog and
recovery); the report draws the windows."""
import runfolder
from runner import Progress, run_json
PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "work", "profile", "num", "seconds", "failed", "capacity_per_s", "peak_backlog",
          "due_p99_ms", "recovery_s", "recovery_from", "cpu_ms_per_1k"]


def profile(s):
    return f"spike:{s['base']},{s['peak']}@{s['at_s']}+{s['length_s']}"


def work_label(work):
    """A work spec as a file name's part: none, spin-us-1000."""
    return work.replace(":", "-").replace("=", "-")


def row(r, work):
    o = r["open_loop"]
    return {"model": r["model"], "work": work, "profile": o["rate_profile"], "num": r["num"],
            "seconds": f"{r['seconds']:.6f}", "failed": r["failed"], "capacity_per_s": o["capacity_per_s"],
            "peak_backlog": o["peak_backlog"], "due_p99_ms": (o["latency_from_due_ms"] or {}).get("p99", ""),
            "recovery_s": "" if o["recovery_s"] is None else f"{o['recovery_s']:.3f}",
            "recovery_from": o["recovery_from"] or "", "cpu_ms_per_1k": f"{r['cost']['cpu_ms_per_1k']:.3f}"}


def run(ctx, s, got):
    models = [m["name"] for m in ctx.models if not m["one_in_flight"]]
    points = [(w, m) for w in s["work"] for m in models]
    progress = Progress("spike", len(points))
    for k, (work, model) in enumerate(points, 1):
        argv = [ctx.crawl, "--model", model, "--url", ctx.url, "--rate-profile", profile(s), "--duration",
                str(s["duration_s"]), "--concurrency", str(s["concurrency"]), "--delay", str(s["delay_ms"]),
                "--work", work, "--seed", str(ctx.seed), "--name", f"spike-{model}", "--json",
                "--resources", ctx.file(runfolder.resources_name("spike", f"{model}-{work_label(work)}"))]
        r, rc, err = run_json(argv, f"spike: {model} with work {work}")
        r["work_spec"] = work  # the run's key in the summary ("none" has no work section)
        got.runs.append(r)
        got.rows.append(row(r, work))
        if rc != 0:
            got.fail(f"{model} with work {work} exited {rc}: {err.strip()}")
        o = r["open_loop"]
        rec = "never" if o["recovery_s"] is None else f"{o['recovery_s']:.2f} s"
        progress.step(k, f"{model}, work {work}: backlog up to {o['peak_backlog']}, recovered in {rec}")
    progress.done()

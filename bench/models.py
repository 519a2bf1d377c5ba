"""The crawl stage: every model of `crawl --list-models`, serial first, with
the same N, delay, C and seed, each writing its timeline (client-MODEL.csv)
and what it spent over time (crawl-resources-MODEL.csv), and showing its
progress. Every figure is crawl's own (--json)."""
import runfolder
from runner import run_json


PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from


def run(ctx, s, got):
    for m in ctx.models:
        model = m["name"]
        print(f"benchmark: {model}: {s['num']} URLs, delay {s['delay_ms']} ms, concurrency {s['concurrency']}",
              flush=True)
        argv = [ctx.crawl, "--model", model, "--url", ctx.url, "--num", str(s["num"]),
                "--delay", str(s["delay_ms"]), "--concurrency", str(s["concurrency"]), "--seed", str(ctx.seed),
                "--timeline", ctx.file(runfolder.client_timeline_name(model)),
                "--resources", ctx.file(runfolder.resources_name("crawl", model)), "--json", "--progress"]
        summary, rc, _ = run_json(argv, f"crawl: {model}", stderr=None)
        got.runs.append(summary)
        if rc != 0:
            got.fail(f"{model} reported failures (see above)")

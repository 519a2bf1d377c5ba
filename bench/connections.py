"""The connections stage: every concurrent model under each connection policy
(crawl --connection: keepalive, reuse:N, close) at each concurrency C, with
N = a multiple of C (so that a slot carries several requests and the policy
shows). Beside them the machine's floor, measured in the same run: bare
sockets (build/connect-floor) opening a fresh connection for every request,
C at a time, in as many waves as the crawl has. One row per run in
connections.csv (the floor's with model connect-floor); every crawl figure is
crawl's own (--json: its connect_us, its cost); plots/plot_connections.py
draws it."""
import json
import os

from runner import Progress, run_json
from runner import run as run_program

PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "policy", "concurrency", "num", "delay_ms", "seconds", "ideal_seconds", "efficiency",
          "cpu_ms_per_1k", "connections_opened", "connect_p50_us", "connect_p99_us", "failed"]


def row(r, policy):
    c = r.get("connect_us") or {}
    return {"model": r["model"], "policy": policy, "concurrency": r["concurrency"], "num": r["num"],
            "delay_ms": r["delay_ms"], "seconds": f"{r['seconds']:.6f}", "ideal_seconds": f"{r['ideal_seconds']:.6f}",
            "efficiency": "" if r["efficiency"] is None else f"{r['efficiency']:.6f}",
            "cpu_ms_per_1k": f"{r['cost']['cpu_ms_per_1k']:.3f}",
            "connections_opened": r["cost"]["connections_opened"], "connect_p50_us": c.get("p50", ""),
            "connect_p99_us": c.get("p99", ""), "failed": r["failed"]}


def floor(ctx, s, conc):
    """connect-floor, C fresh connections at once, once per wave of the crawl:
    its summary as a run of its own (seconds summed over the waves)."""
    waves = s["multiple"]
    exe = os.path.join(os.path.dirname(ctx.crawl), "connect-floor")
    port = ctx.url.rsplit(":", 1)[1]
    took = [json.loads(run_program([exe, "--port", port, "--num", str(conc), "--delay", str(s["delay_ms"])],
                           "connect-floor", timeout=60).stdout) for _ in range(waves)]
    seconds = sum(t["seconds"] for t in took)
    ideal = waves * s["delay_ms"] / 1000
    return {"model": "connect-floor", "concurrency": conc, "num": conc * waves, "delay_ms": s["delay_ms"],
            "seconds": seconds, "ideal_seconds": ideal, "efficiency": ideal / seconds if seconds else None,
            "answered": sum(t["answered"] for t in took), "failed": sum(t["sent"] - t["answered"] for t in took),
            "waves": took}


def run_policies(ctx, s, got, conc, models, progress, k):
    for policy in s["policies"]:
        for model in models:
            k += 1
            argv = [ctx.crawl, "--model", model, "--url", ctx.url, "--num", str(conc * s["multiple"]),
                    "--concurrency", str(conc), "--delay", str(s["delay_ms"]), "--connection", policy,
                    "--seed", str(ctx.seed), "--name", f"connections-{model}", "--json"]
            r, rc, err = run_json(argv, f"connections: {model} {policy} at C={conc}")
            r["policy"] = policy
            got.runs.append(r)
            got.rows.append(row(r, policy))
            if rc != 0:
                got.fail(f"{model} {policy} at C={conc} exited {rc}: {err.strip()}")
            progress.step(k, f"{model} {policy} C={conc}: {r['seconds']:.3f} s, "
                             f"{r['cost']['connections_opened']} connections")
    return k


def run(ctx, s, got):
    models = [m["name"] for m in ctx.models if not m["one_in_flight"]]
    progress = Progress("connections", len(s["concurrency"]) * (len(s["policies"]) * len(models) + 1))
    k = 0
    for conc in s["concurrency"]:
        k = run_policies(ctx, s, got, conc, models, progress, k)
        f = floor(ctx, s, conc)
        got.runs.append(f)
        got.rows.append({"model": "connect-floor", "policy": "close", "concurrency": conc, "num": f["num"],
                         "delay_ms": s["delay_ms"], "seconds": f"{f['seconds']:.6f}",
                         "ideal_seconds": f"{f['ideal_seconds']:.6f}",
                         "efficiency": "" if f["efficiency"] is None else f"{f['efficiency']:.6f}",
                         "cpu_ms_per_1k": "", "connections_opened": f["num"], "connect_p50_us": "",
                         "connect_p99_us": "", "failed": f["failed"]})
        k += 1
        progress.step(k, f"connect-floor C={conc}: {f['seconds']:.3f} s for {f['num']} fresh connections")
    progress.done()

"""The tls stage: what a TLS handshake costs each model. Every concurrent model
at each concurrency C, N = a multiple of C, against a delayserver --tls of
its own for each key (ECDSA P-256, and RSA-2048 in the full run), in three
ways: keep-alive (a handshake a slot), a new connection per request whose
handshake resumes a session the server gave before (--tls-resume on), and one
whose every handshake is a full one (--tls-resume off). Beside them the same crawls in
plain HTTP, against the stage's own server, keep-alive and close: what TLS
adds. One row per run in tls.csv; every figure is crawl's own (--json: its
tls_us percentiles, tls_resumed, its cost); plots/plot_tls.py draws it."""
import os
import tempfile

from runner import Delayserver, Progress, run_json
import runfolder

PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["model", "key", "variant", "concurrency", "num", "delay_ms", "seconds", "ideal_seconds", "efficiency",
          "cpu_ms_per_1k", "connections_opened", "tls_p50_us", "tls_p99_us", "resumed", "failed"]

# variant: (scheme, --connection, --tls-resume); the plain ones run against
# the stage's own server, key "none".
VARIANTS = {
    "keepalive": ("https", "keepalive", "on"),
    "close-resume": ("https", "close", "on"),
    "close-full": ("https", "close", "off"),
    "plain-keepalive": ("http", "keepalive", None),
    "plain-close": ("http", "close", None),
}


def row(r, key, variant):
    t = r.get("tls_us") or {}
    return {"model": r["model"], "key": key, "variant": variant, "concurrency": r["concurrency"], "num": r["num"],
            "delay_ms": r["delay_ms"], "seconds": f"{r['seconds']:.6f}", "ideal_seconds": f"{r['ideal_seconds']:.6f}",
            "efficiency": "" if r["efficiency"] is None else f"{r['efficiency']:.6f}",
            "cpu_ms_per_1k": f"{r['cost']['cpu_ms_per_1k']:.3f}",
            "connections_opened": r["cost"]["connections_opened"], "tls_p50_us": t.get("p50", ""),
            "tls_p99_us": t.get("p99", ""),
            "resumed": "" if r.get("tls_resumed") is None else r["tls_resumed"], "failed": r["failed"]}


def crawl(ctx, s, got, url, cacert, key, variant, model, conc):
    scheme, policy, resume = VARIANTS[variant]
    argv = [ctx.crawl, "--model", model, "--url", url, "--num", str(conc * s["multiple"]),
            "--concurrency", str(conc), "--delay", str(s["delay_ms"]), "--connection", policy,
            "--seed", str(ctx.seed), "--name", f"tls-{model}", "--json"]
    if scheme == "https":
        argv += ["--cacert", cacert, "--tls-resume", resume]
    what = f"{model} {key} {variant} at C={conc}"
    r, rc, err = run_json(argv, f"tls: {what}")
    r.update(key=key, variant=variant)
    got.runs.append(r)
    got.rows.append(row(r, key, variant))
    if rc != 0:
        got.fail(f"{what} exited {rc}: {err.strip()}")
    return r


def tls_server(ctx, key, scratch_dir):
    """A delayserver --tls with a certificate of `key`, its log in the run folder."""
    build = os.path.dirname(ctx.crawl)
    return Delayserver(os.path.join(build, "delayserver"),
                       ["--tls", "--tls-key", key, "--seed", str(ctx.seed),
                        "--timeline", os.path.join(scratch_dir, f"timeline-{key}.csv"),
                        "--db", os.path.join(scratch_dir, f"primes-{key}.sqlite")],
                       log=ctx.file(runfolder.keyed_server_log_name("tls", key)))


def run(ctx, s, got):
    models = [m["name"] for m in ctx.models if not m["one_in_flight"]]
    https = [v for v in s["variants"] if VARIANTS[v][0] == "https"]
    plain = [v for v in s["variants"] if VARIANTS[v][0] == "http"]
    total = len(models) * len(s["concurrency"]) * (len(https) * len(s["keys"]) + len(plain))
    progress = Progress("tls", total)
    k = 0
    for key in s["keys"]:
        with tempfile.TemporaryDirectory(prefix="stage-tls-") as scratch_dir:
            server = tls_server(ctx, key, scratch_dir)
            try:
                for conc in s["concurrency"]:
                    for variant in https:
                        for model in models:
                            r = crawl(ctx, s, got, server.url, server.cert, key, variant, model, conc)
                            k += 1
                            t = r.get("tls_us") or {}
                            progress.step(k, f"{model} {key} {variant} C={conc}: {r['seconds']:.3f} s, "
                                             f"handshake p50 {t.get('p50') or 0:.0f} µs")
            finally:
                if server.stop() != 0:
                    got.fail(f"the {key} server exited {server.proc.returncode}")
    for conc in s["concurrency"]:
        for variant in plain:
            for model in models:
                r = crawl(ctx, s, got, ctx.url, None, "none", variant, model, conc)
                k += 1
                progress.step(k, f"{model} {variant} C={conc}: {r['seconds']:.3f} s")
    progress.done()

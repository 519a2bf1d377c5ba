#!/usr/bin/env python3
"""Measure the testbed against its peers, in one run (issue: performance vs peers).

  1. server:     delayserver --threads 1 vs nginx (1 worker, `return 200 "."`) under
                 wrk -t1 -c64 at delay 0, alternating A B A B; ratio ours / nginx.
  2. client:     crawl --model M --delay 0 --concurrency 64 vs wrk -t1 -c64, both
                 against the same delayserver; ratio per model.
  3. efficiency: every concurrent model at N=1000, C=100, delay 100 ms; ideal / measured;
                 the event-loop models with one loop (the book's) and with --loops 2.
  4. c10k:       crawl --model coroutine --num 10000 --concurrency 10000 --delay 1000;
                 seconds against the ideal 1.0 s and the server's memory per connection.
  5. cost:       CPU ms per 1k requests per model (the client's is crawl's own
                 cost.cpu_ms_per_1k; the server's measured around the run), and
                 instructions per request under callgrind (repeatable on a noisy machine).
  6. primes:     primes --mode async against a 50 ms database, at --max-number 8192
                 and 2^20 with --concurrency 4096; seconds against primes' own bound
                 (bound_seconds: compute + one save at 8192, ceil(primes / 4096) saves in a
                 row at 2^20), and the database's count checked after each run.
  7. spread:     every event-loop model at N=20,000, C=9,000, delay 100 ms (ideal 0.3 s):
                 seconds, the ratio to the fastest model and to the ideal.
  8. tls:        over HTTPS with one ECDSA P-256 certificate (made by the openssl
                 program): delayserver --tls vs nginx (1 worker, ssl) under wrk -t1 -c64
                 at delay 0, A B A B; each concurrent model vs wrk over https (C=64,
                 keep-alive); and handshakes one after another on a new connection
                 each, full and resumed: crawl --model serial --connection close
                 against openssl s_time -new / -reuse on the same server.

The figures above are the full settings; --quick runs smaller ones. Both are
SETTINGS below, the one place they are written. What each benchmark is held
to is TARGETS, which the run checks and prints (peers.md's Targets table, and
a line on stderr for each one missed). Servers and load are pinned to
different cores with taskset where it works; every program runs through
bench/runner.py.
Writes OUT/peers.json (every measurement) and OUT/peers.md (the tables).
Only the standard library: any python3 runs it. bench/peers.sh installs what it needs.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

from runner import Delayserver, Service, http_get, list_models, run, run_json

ROOT = Path(__file__).resolve().parent.parent

# Every setting of the run, full and --quick, in one place.
Settings = namedtuple("Settings", "rounds seconds client_num client_rounds efficiency_rounds "
                                  "efficiency c10k cost_num callgrind_num primes_latency_ms primes_sizes "
                                  "spread_num spread_concurrency spread_delay_ms handshake_num")
SETTINGS = {
    "full": Settings(rounds=4, seconds=5, client_num=100_000, client_rounds=3,
                     efficiency_rounds=8, efficiency=dict(num=1000, concurrency=100, delay_ms=100),
                     c10k=10_000, cost_num=50_000, callgrind_num=5_000, primes_latency_ms=50,
                     primes_sizes=((8192, 4096), (2**20, 4096)), spread_num=20_000, spread_concurrency=9_000,
                     spread_delay_ms=100, handshake_num=3_000),
    "quick": Settings(rounds=2, seconds=1, client_num=20_000, client_rounds=1,
                      efficiency_rounds=2, efficiency=dict(num=1000, concurrency=100, delay_ms=100),
                      c10k=2_000, cost_num=10_000, callgrind_num=1_000, primes_latency_ms=50,
                      primes_sizes=((8192, 4096), (2**17, 4096)), spread_num=4_000, spread_concurrency=2_000,
                      spread_delay_ms=100, handshake_num=500),
}

# The model table's lists, from `crawl --list-models --json`: every model
# (serial first), the concurrent ones, those with event loops (which take
# --loops), and the efficiency variants (every concurrent model on one loop,
# the event-loop ones on 2 too).
Models = namedtuple("Models", "all concurrent event_loop efficiency_variants")
# What every benchmark is given.
Context = namedtuple("Context", "cfg build tmp models")


def model_lists(crawl):
    table = list_models(crawl)
    concurrent = [m["name"] for m in table if not m["one_in_flight"]]
    event_loop = [m["name"] for m in table if m["event_loops"]]
    return Models([m["name"] for m in table], concurrent, event_loop,
                  [(m, 1) for m in concurrent] + [(m, 2) for m in event_loop])


def log(msg):
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def pin(core):
    """taskset -c CORE, if taskset exists and there are two cores to split."""
    if core is not None and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def get(port, target):
    return http_get(f"http://127.0.0.1:{port}{target}")


def delayserver(ctx, core=None, extra=(), prefix=(), log_file=None, ready_s=10):
    n = len(list(ctx.tmp.iterdir()))
    return Delayserver(str(ctx.build / "delayserver"),
                       ["--threads", "1", "--timeline", str(ctx.tmp / f"timeline-{n}.csv"),
                        "--db", str(ctx.tmp / f"primes-{n}.sqlite"), *extra],
                       prefix=[*pin(core), *prefix], log=log_file, ready_s=ready_s)


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "."; }}
{tls}  }}
}}
"""

# nginx over TLS: the same certificate and key as delayserver's, TLS 1.2 and
# 1.3, a session cache (resumption, as delayserver's).
NGINX_TLS = """\
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:10m;
"""


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx(tmp, core, pair=None):
    """nginx with one worker; `pair` (cert, key): over TLS."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    d = tmp / ("nginx-tls" if pair else "nginx")
    d.mkdir(exist_ok=True)
    port = free_port()
    conf = d / "nginx.conf"
    tls = NGINX_TLS.format(cert=pair[0], key=pair[1]) if pair else ""
    listen = f"{port} ssl" if pair else str(port)
    conf.write_text(NGINX_CONF.format(dir=d, port=listen, tls=tls))
    return Service(pin(core) + [exe, "-p", str(d), "-c", str(conf)], "nginx", port=port,
                   cafile=pair[0] if pair else None)


def wrk(port, seconds, core, connections=64, scheme="http"):
    out = run(pin(core) + [shutil.which("wrk") or "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
                           f"{scheme}://127.0.0.1:{port}/add?name=wrk&delay=0"], "wrk").stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    if bad or errs:
        log(f"wrk saw problems: {bad.group(0) if bad else ''} {errs.group(0) if errs else ''}")
    return rps


def crawl(ctx, port, model, num, delay, concurrency, core=None, check=True, extra=(), scheme="http"):
    argv = pin(core) + [
        str(ctx.build / "crawl"), "--model", model, "--url", f"{scheme}://127.0.0.1:{port}",
        "--num", str(num), "--delay", str(delay), "--concurrency", str(concurrency), "--json", *extra]
    s, rc, err = run_json(argv, f"crawl --model {model}")
    if check and rc != 0:
        raise SystemExit(f"crawl --model {model} failed ({rc}): {err.strip()}")
    return s


def medians(rows, group, key, groups):
    """The median of `key` over the rows of each group, e.g. per model."""
    return {str(g): statistics.median(x[key] for x in rows if x[group] == g) for g in groups}


# --- 1. server throughput -----------------------------------------------------

def bench_server(ctx):
    cfg, build, tmp, models = ctx
    log(f"server: delayserver vs nginx, wrk -t1 -c64, {cfg.rounds} x {cfg.seconds} s each, A B A B")
    ours = delayserver(ctx, core=0)
    theirs = nginx(tmp, core=0)
    rows = []
    try:
        wrk(ours.port, 1, 1)  # warm both up
        wrk(theirs.port, 1, 1)
        for r in range(cfg.rounds):
            a = wrk(ours.port, cfg.seconds, 1)
            b = wrk(theirs.port, cfg.seconds, 1)
            rows.append({"round": r + 1, "delayserver_rps": a, "nginx_rps": b, "ratio": a / b})
            log(f"  round {r + 1}: delayserver {a:,.0f}/s, nginx {b:,.0f}/s, ratio {a / b:.3f}")
    finally:
        ours.stop()
        theirs.stop()
    return {"rounds": rows, "ratio_median": statistics.median(x["ratio"] for x in rows)}


# --- 2. client throughput -----------------------------------------------------

def bench_client(ctx):
    cfg, build, tmp, models = ctx
    log(f"client: crawl --delay 0 --concurrency 64 --num {cfg.client_num} vs wrk -t1 -c64")
    srv = delayserver(ctx, core=0, extra=["--timeline-capacity", "0"])
    rows = []
    try:
        wrk(srv.port, 1, 1)
        for model in models.concurrent:
            for r in range(cfg.client_rounds):
                w = wrk(srv.port, cfg.seconds, 1)
                s = crawl(ctx, srv.port, model, cfg.client_num, 0, 64, core=1)
                rps = s["num"] / s["seconds"]
                rows.append({"model": model, "round": r + 1, "wrk_rps": w, "crawl_rps": rps,
                             "ratio": rps / w, "failed": s["failed"]})
                log(f"  {model} round {r + 1}: crawl {rps:,.0f}/s, wrk {w:,.0f}/s, ratio {rps / w:.3f}")
    finally:
        srv.stop()
    return {"rounds": rows, "ratio_median": medians(rows, "model", "ratio", models.concurrent)}


# --- 3. efficiency ------------------------------------------------------------

def variant_name(model, loops):
    return model if loops == 1 else f"{model} --loops {loops}"


def bench_efficiency(ctx):
    cfg, build, tmp, models = ctx
    n, c, d = cfg.efficiency["num"], cfg.efficiency["concurrency"], cfg.efficiency["delay_ms"]
    log(f"efficiency: N={n}, C={c}, delay {d} ms, {cfg.efficiency_rounds} rounds")
    srv = delayserver(ctx)
    rows = []
    try:
        for r in range(cfg.efficiency_rounds):
            for model, loops in models.efficiency_variants:
                name = variant_name(model, loops)
                s = crawl(ctx, srv.port, model, n, d, c, extra=["--loops", str(loops)])
                rows.append({"model": model, "loops": loops, "variant": name, "round": r + 1,
                             "seconds": s["seconds"], "ideal_seconds": s["ideal_seconds"],
                             "efficiency": s["efficiency"]})
                log(f"  {name} round {r + 1}: {s['seconds']:.4f} s, efficiency {s['efficiency']:.4f}")
    finally:
        srv.stop()
    names = [variant_name(m, l) for m, l in models.efficiency_variants]
    return {"rounds": rows, "efficiency_median": medians(rows, "variant", "efficiency", names)}


# --- 4. C10K ------------------------------------------------------------------

def bench_c10k(ctx):
    cfg, build, tmp, models = ctx
    n = cfg.c10k
    log(f"c10k: coroutine, {n} URLs at concurrency {n}, delay 1000 ms, {cfg.rounds} rounds "
        "each of --loops 1 (the book's single event loop) and --loops 2 (both cores)")
    rows = []
    for r in range(cfg.rounds):
        for loops in (1, 2):
            srv = delayserver(ctx)
            try:
                base = srv.memory_kib()["VmRSS"]
                s = crawl(ctx, srv.port, "coroutine", n, 1000, n, check=False, extra=["--loops", str(loops)])
                peak = srv.memory_kib()["VmHWM"]
                stats = json.loads(get(srv.port, "/stats"))
                floor = connect_floor(ctx, srv.port, n, 1000) if loops == 1 else None
            finally:
                srv.stop()
            per_conn = (peak - base) * 1024 / max(1, stats["accepted"] - 1)
            rows.append({"round": r + 1, "loops": loops, "seconds": s.get("seconds"),
                         "ideal_seconds": s.get("ideal_seconds"), "failed": s.get("failed"),
                         "bytes": s.get("bytes"), "server_rss_base_kib": base, "server_rss_peak_kib": peak,
                         "server_bytes_per_connection": per_conn, "accepted": stats["accepted"],
                         "floor_seconds": floor["seconds"] if floor else None})
            log(f"  round {r + 1}, --loops {loops}: {s.get('seconds', 0):.3f} s, failed {s.get('failed')}, "
                f"server {per_conn:,.0f} B per connection"
                + (f"; bare sockets {floor['seconds']:.3f} s" if floor else ""))
    floors = [x["floor_seconds"] for x in rows if x["floor_seconds"] is not None]
    return {"rounds": rows, "seconds_median": medians(rows, "loops", "seconds", (1, 2)),
            "floor_seconds_median": statistics.median(floors),
            "bytes_per_connection_median": medians(rows, "loops", "server_bytes_per_connection", (1,))["1"]}


# --- 5. cost per request --------------------------------------------------------

def callgrind_total(what, stderr):
    """The instruction count callgrind reports on stderr when its program exits."""
    m = re.search(r"Collected : (\d+)", stderr)
    if not m:
        raise SystemExit(f"callgrind gave no total for {what}: {stderr[-500:]}")
    return int(m.group(1))


def callgrind_instructions(argv):
    with tempfile.NamedTemporaryFile(suffix=".out") as f:
        p = run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={f.name}"] + argv, argv[0], check=False)
        return callgrind_total(argv[0], p.stderr)


def bench_cost(ctx):
    cfg, build, tmp, models = ctx
    log(f"cost: CPU per 1k requests ({cfg.cost_num} requests, delay 0, C=64); callgrind per request")
    rows = []
    srv = delayserver(ctx, core=0, extra=["--timeline-capacity", "0"])
    try:
        for model in models.all:
            cpu0 = srv.cpu_seconds()
            s = crawl(ctx, srv.port, model, cfg.cost_num, 0, 64, core=1)
            server_cpu = srv.cpu_seconds() - cpu0
            # The client's from crawl's own summary (one definition: the model's
            # run, per 1000 of --num); the server's measured here the same way.
            rows.append({"model": model, "client_cpu_ms_per_1k": s["cost"]["cpu_ms_per_1k"],
                         "server_cpu_ms_per_1k": 1e6 * server_cpu / cfg.cost_num,
                         "requests_per_second": cfg.cost_num / s["seconds"]})
            log(f"  {model}: client {rows[-1]['client_cpu_ms_per_1k']:.1f} ms CPU per 1k, "
                f"server {rows[-1]['server_cpu_ms_per_1k']:.1f} ms per 1k")
        if shutil.which("valgrind"):
            small, big = cfg.callgrind_num // 10, cfg.callgrind_num
            for row in rows:
                model = row["model"]
                ir = [callgrind_instructions(
                          [str(build / "crawl"), "--model", model, "--url", f"http://127.0.0.1:{srv.port}",
                           "--num", str(k), "--delay", "0", "--concurrency", "64"]) for k in (small, big)]
                row["client_instructions_per_request"] = (ir[1] - ir[0]) / (big - small)
                log(f"  {model}: client {row['client_instructions_per_request']:,.0f} instructions per request")
    finally:
        srv.stop()
    if shutil.which("valgrind"):
        # The server under callgrind, fed by the (native) coroutine crawler; the
        # difference between a small and a big run is the cost per request.
        totals = []
        for k in (cfg.callgrind_num // 10, cfg.callgrind_num):
            said = tmp / f"callgrind-server-{k}.log"
            srv = delayserver(ctx, extra=["--timeline-capacity", "0"], log_file=said, ready_s=60,
                              prefix=["valgrind", "--tool=callgrind",
                                      f"--callgrind-out-file={tmp / f'callgrind-server-{k}.out'}"])
            try:
                crawl(ctx, srv.port, "coroutine", k, 0, 64)
            finally:
                srv.stop()
            totals.append(callgrind_total("delayserver", said.read_text()))
        per_request = (totals[1] - totals[0]) / (cfg.callgrind_num - cfg.callgrind_num // 10)
        log(f"  server: {per_request:,.0f} instructions per request")
        return {"models": rows, "server_instructions_per_request": per_request}
    return {"models": rows}


# --- 6. async prime saver ---------------------------------------------------------

def primes_run(ctx, port, max_number, concurrency):
    argv = [str(ctx.build / "primes"), "--mode", "async", "--max-number", str(max_number),
            "--concurrency", str(concurrency), "--url", f"http://127.0.0.1:{port}", "--json"]
    return json.loads(run(argv, f"primes --max-number {max_number}").stdout)


def connect_floor(ctx, port, num, delay_ms):
    """What bare sockets take for `num` requests at once on fresh connections."""
    return json.loads(run([str(ctx.build / "connect-floor"), "--port", str(port), "--num", str(num),
                           "--delay", str(delay_ms)], f"connect-floor --num {num}").stdout)


def bench_primes(ctx):
    cfg, build, tmp, models = ctx
    latency_ms, sizes = cfg.primes_latency_ms, list(cfg.primes_sizes)
    log(f"primes: --mode async against a {latency_ms} ms database, {cfg.rounds} rounds of "
        + ", ".join(f"--max-number {m}" for m, _ in sizes))
    rows = []
    srv = delayserver(ctx, extra=["--db-latency-ms", str(latency_ms)])
    try:
        for r in range(cfg.rounds):
            for max_number, conc in sizes:
                get(srv.port, "/primes?reset=True")
                s = primes_run(ctx, srv.port, max_number, conc)
                count = json.loads(get(srv.port, "/primes"))["count"]
                # The bound, as primes derives it: the compute, plus the saves that
                # must run one after another (the mode table's), at the latency given.
                bound = s["bound_seconds"]
                if count != s["primes"] or s["failed"]:
                    raise SystemExit(f"primes --max-number {max_number}: the database holds {count} of "
                                     f"{s['primes']} primes ({s['failed']} failed)")
                row = {"round": r + 1, "max_number": max_number, "concurrency": conc,
                       "primes": s["primes"], "db_count": count, "seconds": s["seconds"],
                       "compute_seconds": s["compute_seconds"], "bound_seconds": bound,
                       "ratio_to_bound": s["seconds"] / bound}
                if s["primes"] <= conc:  # every save at once, each on its own fresh connection
                    row["floor_seconds"] = connect_floor(ctx, srv.port, s["primes"], latency_ms)["seconds"]
                rows.append(row)
                floor = f", bare sockets {row['floor_seconds']:.3f} s" if "floor_seconds" in row else ""
                log(f"  round {r + 1}, --max-number {max_number}: {s['seconds']:.3f} s, bound {bound:.3f} s{floor}, "
                    f"database holds {count}")
    finally:
        srv.stop()
    return {"rounds": rows, "latency_ms": latency_ms,
            "seconds_median": medians(rows, "max_number", "seconds", [m for m, _ in sizes]),
            "bound_median": medians(rows, "max_number", "bound_seconds", [m for m, _ in sizes])}


# --- 7. the event-loop models at scale --------------------------------------------

def bench_spread(ctx):
    cfg, build, tmp, models = ctx
    n, c, d = cfg.spread_num, cfg.spread_concurrency, cfg.spread_delay_ms
    log(f"spread: the event-loop models at N={n}, C={c}, delay {d} ms, {cfg.rounds} rounds")
    rows = []
    srv = delayserver(ctx, extra=["--timeline-capacity", "0"])
    try:
        for r in range(cfg.rounds):
            for model in models.event_loop:
                s = crawl(ctx, srv.port, model, n, d, c)
                rows.append({"model": model, "round": r + 1, "seconds": s["seconds"],
                             "ideal_seconds": s["ideal_seconds"], "failed": s["failed"]})
                log(f"  {model} round {r + 1}: {s['seconds']:.3f} s (ideal {s['ideal_seconds']:.3f} s), "
                    f"failed {s['failed']}")
    finally:
        srv.stop()
    med = medians(rows, "model", "seconds", models.event_loop)
    fastest = min(med.values())
    return {"rounds": rows, "num": n, "concurrency": c, "delay_ms": d, "seconds_median": med,
            "ideal_seconds": rows[0]["ideal_seconds"], "fastest_seconds": fastest,
            "ratio_to_fastest": {m: v / fastest for m, v in med.items()}}


# --- 8. TLS --------------------------------------------------------------------------

def make_pair(tmp):
    """An ECDSA P-256 certificate and key for 127.0.0.1, made by the openssl program."""
    cert, key = tmp / "tls-cert.pem", tmp / "tls-key.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"], "openssl req")
    return str(cert), str(key)


def s_time(port, seconds, core, resumed):
    """openssl s_time's handshakes per second of wall-clock time, one
    connection after another (-new: every one full; -reuse: the first full,
    the rest resumed). s_time gives its count per second of its user CPU, and
    the real seconds only whole: the count over the time it ran, measured here."""
    t0 = time.monotonic()
    out = run(pin(core) + ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-time", str(seconds),
                           "-reuse" if resumed else "-new"], "openssl s_time").stdout
    elapsed = time.monotonic() - t0
    m = re.search(r"(\d+) connections in [\d.]+s", out)
    if not m:
        raise SystemExit(f"openssl s_time: no count in its output: {out[-300:]}")
    return int(m.group(1)) / elapsed


def bench_tls(ctx):
    cfg, build, tmp, models = ctx
    cert, key = make_pair(tmp)
    log(f"tls: delayserver --tls vs nginx (ssl), wrk -t1 -c64 over https, {cfg.rounds} x {cfg.seconds} s, "
        "then each model vs wrk, then handshakes one at a time vs openssl s_time")
    res = {"server": [], "client": [], "handshakes": []}
    ours = delayserver(ctx, core=0, extra=["--tls", "--cert", cert, "--key", key, "--timeline-capacity", "0"])
    theirs = nginx(tmp, 0, (cert, key))
    try:
        wrk(ours.port, 1, 1, scheme="https")
        wrk(theirs.port, 1, 1, scheme="https")
        for r in range(cfg.rounds):
            a = wrk(ours.port, cfg.seconds, 1, scheme="https")
            b = wrk(theirs.port, cfg.seconds, 1, scheme="https")
            res["server"].append({"round": r + 1, "delayserver_rps": a, "nginx_rps": b, "ratio": a / b})
            log(f"  server round {r + 1}: delayserver {a:,.0f}/s, nginx {b:,.0f}/s, ratio {a / b:.3f}")
        for model in models.concurrent:
            for r in range(cfg.client_rounds):
                w = wrk(ours.port, cfg.seconds, 1, scheme="https")
                s = crawl(ctx, ours.port, model, cfg.client_num, 0, 64, core=1, scheme="https",
                          extra=["--cacert", cert])
                rps = s["num"] / s["seconds"]
                res["client"].append({"model": model, "round": r + 1, "wrk_rps": w, "crawl_rps": rps,
                                      "ratio": rps / w, "failed": s["failed"]})
                log(f"  {model} round {r + 1}: crawl {rps:,.0f}/s, wrk {w:,.0f}/s, ratio {rps / w:.3f}")
        num = cfg.handshake_num
        for r in range(cfg.rounds):
            for resumed in (False, True):
                o = s_time(ours.port, cfg.seconds, 1, resumed)
                s = crawl(ctx, ours.port, "serial", num, 0, 1, core=1, scheme="https",
                          extra=["--cacert", cert, "--connection", "close", "--tls-resume", "on" if resumed else "off"])
                ours_rate = s["num"] / s["seconds"]
                res["handshakes"].append({"round": r + 1, "resumed": resumed, "crawl_per_s": ours_rate,
                                          "s_time_per_s": o, "ratio": ours_rate / o, "failed": s["failed"],
                                          "crawl_resumed": s.get("tls_resumed")})
                log(f"  handshakes round {r + 1} ({'resumed' if resumed else 'full'}): crawl {ours_rate:,.0f}/s, "
                    f"s_time {o:,.0f}/s, ratio {ours_rate / o:.3f}")
    finally:
        ours.stop()
        theirs.stop()
    hs = lambda resumed: statistics.median(x["ratio"] for x in res["handshakes"] if x["resumed"] == resumed)  # noqa: E731
    return {**res, "server_ratio_median": statistics.median(x["ratio"] for x in res["server"]),
            "client_ratio_median": medians(res["client"], "model", "ratio", models.concurrent),
            "handshake_ratio_median": {"full": hs(False), "resumed": hs(True)}}


# --- report ----------------------------------------------------------------------

def markdown(res, ctx):
    cfg, models = ctx.cfg, ctx.models
    out = []
    if "server" in res:
        r = res["server"]
        out += ["## 1. Server throughput: delayserver / nginx (wrk -t1 -c64, delay 0)", "",
                "| round | delayserver req/s | nginx req/s | ratio |", "|---|---|---|---|"]
        out += [f"| {x['round']} | {x['delayserver_rps']:,.0f} | {x['nginx_rps']:,.0f} | {x['ratio']:.3f} |"
                for x in r["rounds"]]
        out += ["", f"Median ratio: **{r['ratio_median']:.3f}**", ""]
    if "client" in res:
        r = res["client"]
        out += ["## 2. Client throughput: crawl / wrk (C=64, delay 0, same delayserver)", "",
                "| model | crawl req/s | wrk req/s | ratio |", "|---|---|---|---|"]
        for m in models.concurrent:
            xs = [x for x in r["rounds"] if x["model"] == m]
            out.append(f"| {m} | {statistics.median(x['crawl_rps'] for x in xs):,.0f} | "
                       f"{statistics.median(x['wrk_rps'] for x in xs):,.0f} | {r['ratio_median'][m]:.3f} |")
        out += ["", "Ratios are medians of rounds.", ""]
    if "efficiency" in res:
        r = res["efficiency"]
        ideal = r["rounds"][0]["ideal_seconds"] if r["rounds"] else 0
        out += [f"## 3. Efficiency: ideal / measured (N=1000, C=100, delay 100 ms, ideal {ideal:.3f} s)", "",
                "| model | event loops | median seconds | efficiency | rounds (efficiency) |",
                "|---|---|---|---|---|"]
        for m, loops in models.efficiency_variants:
            xs = [x for x in r["rounds"] if x["variant"] == variant_name(m, loops)]
            loops_text = str(loops) if m in models.event_loop else "none"
            out.append(f"| {m} | {loops_text} | {statistics.median(x['seconds'] for x in xs):.4f} | "
                       f"{r['efficiency_median'][variant_name(m, loops)]:.4f} | "
                       f"{min(x['efficiency'] for x in xs):.3f}-{max(x['efficiency'] for x in xs):.3f} |")
        out.append("")
    if "c10k" in res:
        r = res["c10k"]
        ideal = r["rounds"][0]["ideal_seconds"] if r["rounds"] else 0
        out += [f"## 4. C10K: coroutine, {cfg.c10k} URLs at concurrency {cfg.c10k}, delay 1 s "
                f"(ideal {ideal:.3f} s)", "",
                "| round | --loops | seconds | failed | server bytes per connection |", "|---|---|---|---|---|"]
        out += [f"| {x['round']} | {x['loops']} | {x['seconds']:.3f} | {x['failed']} | "
                f"{x['server_bytes_per_connection']:,.0f} |" for x in r["rounds"]]
        out += ["", f"Median: **{r['seconds_median']['1']:.3f} s** with one event loop, "
                f"**{r['seconds_median']['2']:.3f} s** with two; "
                f"**{r['bytes_per_connection_median']:,.0f} B** of server memory per connection. "
                f"Bare sockets (`connect-floor`, one thread, the same {cfg.c10k} requests after each one-loop "
                f"round): **{r['floor_seconds_median']:.3f} s**.", ""]
    if "cost" in res:
        r = res["cost"]
        out += [f"## 5. Cost per request ({cfg.cost_num} requests, delay 0, C=64)", "",
                "| model | req/s | client CPU ms per 1k | server CPU ms per 1k | client instructions per request |",
                "|---|---|---|---|---|"]
        for x in r["models"]:
            ir = x.get("client_instructions_per_request")
            out.append(f"| {x['model']} | {x['requests_per_second']:,.0f} | {x['client_cpu_ms_per_1k']:.1f} | "
                       f"{x['server_cpu_ms_per_1k']:.1f} | {f'{ir:,.0f}' if ir else 'n/a'} |")
        if "server_instructions_per_request" in r:
            out += ["", f"Server: **{r['server_instructions_per_request']:,.0f}** instructions per request "
                    "(callgrind, the difference between two run sizes)."]
        out.append("")
    if "primes" in res:
        r = res["primes"]
        out += [f"## 6. Async prime saver ({r['latency_ms']} ms database)", "",
                "| --max-number | --concurrency | primes | median seconds | bound | ratio | bare sockets | database count |",
                "|---|---|---|---|---|---|---|---|"]
        for m in r["seconds_median"]:
            xs = [x for x in r["rounds"] if str(x["max_number"]) == m]
            floors = [x["floor_seconds"] for x in xs if "floor_seconds" in x]
            floor = f"{statistics.median(floors):.3f}" if floors else "n/a"
            out.append(f"| {m} | {xs[0]['concurrency']} | {xs[0]['primes']:,} | {r['seconds_median'][m]:.3f} | "
                       f"{r['bound_median'][m]:.3f} | {r['seconds_median'][m] / r['bound_median'][m]:.2f} | "
                       f"{floor} | {xs[0]['db_count']:,} |")
        out += ["", "Bound: primes' own bound_seconds, the longer of the compute plus one save and ceil(primes / "
                "concurrency) saves one after another (async computes while it saves); the count is the "
                "database's after each run. Bare sockets: `connect-floor`, one thread of socket/connect/send for "
                "the same number of requests at once with the same 50 ms answer (no database), the floor of "
                "one connection per save on this machine.", ""]
    if "spread" in res:
        r = res["spread"]
        out += [f"## 7. The event-loop models at scale (N={r['num']:,}, C={r['concurrency']:,}, "
                f"delay {r['delay_ms']} ms, ideal {r['ideal_seconds']:.3f} s)", "",
                "| model | median seconds | / fastest | / ideal | failed |", "|---|---|---|---|---|"]
        for m, v in r["seconds_median"].items():
            failed = sum(x["failed"] for x in r["rounds"] if x["model"] == m)
            out.append(f"| {m} | {v:.3f} | {r['ratio_to_fastest'][m]:.2f} | {v / r['ideal_seconds']:.2f} | "
                       f"{failed} |")
        out.append("")
    if "tls" in res:
        r = res["tls"]
        out += ["## 8. TLS (ECDSA P-256, one certificate for both servers)", "",
                "| what | ours | theirs | ratio (median of rounds) |", "|---|---|---|---|"]
        med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
        out.append(f"| server: delayserver --tls vs nginx ssl, wrk -c64 keep-alive | "
                   f"{med(r['server'], 'delayserver_rps'):,.0f}/s | {med(r['server'], 'nginx_rps'):,.0f}/s | "
                   f"{r['server_ratio_median']:.3f} |")
        for m in models.concurrent:
            xs = [x for x in r["client"] if x["model"] == m]
            out.append(f"| client: {m} vs wrk over https, C=64 | {med(xs, 'crawl_rps'):,.0f}/s | "
                       f"{med(xs, 'wrk_rps'):,.0f}/s | {r['client_ratio_median'][m]:.3f} |")
        for kind, resumed in (("full", False), ("resumed", True)):
            xs = [x for x in r["handshakes"] if x["resumed"] == resumed]
            out.append(f"| handshakes, {kind}, one at a time: crawl serial --connection close vs openssl s_time | "
                       f"{med(xs, 'crawl_per_s'):,.0f}/s | {med(xs, 's_time_per_s'):,.0f}/s | "
                       f"{r['handshake_ratio_median'][kind]:.3f} |")
        out += ["", "crawl's handshakes each carry a request and its answer; s_time's carry none.", ""]
    out += targets_markdown(check_targets(res, ctx.models))
    return "\n".join(out)


# --- targets ----------------------------------------------------------------------

# What each benchmark is held to: (benchmark, what, the measured values as
# {label: value}, "min" or "max", the bound). The run checks and prints every one.
Target = namedtuple("Target", "bench what measured kind bound")
TARGETS = [
    Target("server", "delayserver / nginx, median ratio", lambda r, m: {"": r["ratio_median"]}, "min", 0.8),
    Target("client", "crawl / wrk, median ratio",
           lambda r, m: {"coroutine": r["ratio_median"]["coroutine"]}, "min", 0.9),
    Target("efficiency", "every event-loop model on one loop, median efficiency",
           lambda r, m: {x: r["efficiency_median"][x] for x in m.event_loop}, "min", 0.97),
    Target("c10k", "seconds with one event loop (ideal 1 s)", lambda r, m: {"": r["seconds_median"]["1"]},
           "max", 1.2),
    Target("c10k", "server bytes per connection", lambda r, m: {"": r["bytes_per_connection_median"]},
           "max", 4096),
    Target("spread", "each model's seconds / the fastest's", lambda r, m: r["ratio_to_fastest"], "max", 1.5),
    Target("spread", "the fastest's seconds / the ideal",
           lambda r, m: {"": r["fastest_seconds"] / r["ideal_seconds"]}, "max", 2.0),
    Target("tls", "delayserver --tls / nginx ssl, median ratio", lambda r, m: {"": r["server_ratio_median"]},
           "min", 0.9),
    Target("tls", "the best model / wrk over https, median ratio",
           lambda r, m: {max(r["client_ratio_median"], key=r["client_ratio_median"].get):
                         max(r["client_ratio_median"].values())}, "min", 1.0),
    Target("tls", "full handshakes one at a time: s_time / crawl (within 1.3x)",
           lambda r, m: {"": 1 / r["handshake_ratio_median"]["full"]}, "max", 1.3),
]


def check_targets(res, models):
    """Every target of the benchmarks that ran: a row each, met or missed."""
    rows = []
    for t in TARGETS:
        if t.bench not in res:
            continue
        for label, value in t.measured(res[t.bench], models).items():
            met = value >= t.bound if t.kind == "min" else value <= t.bound
            rows.append({"bench": t.bench, "what": t.what + (f": {label}" if label else ""), "value": value,
                         "target": f"{'>=' if t.kind == 'min' else '<='} {t.bound:g}", "met": met})
    return rows


def targets_markdown(rows):
    out = ["## Targets", "", "| benchmark | what | measured | target | |", "|---|---|---|---|---|"]
    out += [f"| {r['bench']} | {r['what']} | {r['value']:.3f} | {r['target']} | {'met' if r['met'] else '**missed**'} |"
            for r in rows]
    return out + [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "build"), help="folder with delayserver and crawl")
    ap.add_argument("--out", default=None, help="results folder (default results/peers-<time>)")
    ap.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    ap.add_argument("--quick", action="store_true", help="short runs, for CI (SETTINGS['quick'])")
    ap.add_argument("--rounds", type=int, help="rounds of each benchmark (default: the settings')")
    ap.add_argument("--efficiency-rounds", type=int, help="rounds of benchmark 3 (about 1 s per model and round)")
    ap.add_argument("--seconds", type=int, help="length of each wrk run")
    args = ap.parse_args()
    cfg = SETTINGS["quick" if args.quick else "full"]
    cfg = cfg._replace(**{k: v for k, v in [("rounds", args.rounds), ("seconds", args.seconds),
                                            ("efficiency_rounds", args.efficiency_rounds)] if v is not None})
    wanted = args.only.split(",")
    unknown = set(wanted) - set(BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    build = Path(args.build)
    models = model_lists(str(build / "crawl"))
    out = Path(args.out or ROOT / "results" / time.strftime("peers-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    res = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": os.uname().nodename,
           "cores": os.cpu_count(), "quick": args.quick, "settings": cfg._asdict()}
    with tempfile.TemporaryDirectory() as t:
        ctx = Context(cfg, build, Path(t), models)
        for name in wanted:
            res[name] = BENCHMARKS[name](ctx)
            (out / "peers.json").write_text(json.dumps(res, indent=1))
        res["targets"] = check_targets(res, models)
        (out / "peers.json").write_text(json.dumps(res, indent=1))
        md = markdown(res, ctx)
    (out / "peers.md").write_text(md)
    print(md)
    for r in res["targets"]:
        if not r["met"]:
            log(f"target missed: {r['bench']}: {r['what']} = {r['value']:.3f}, target {r['target']}")
    log(f"wrote {out}/peers.json and {out}/peers.md")


BENCHMARKS = {"server": bench_server, "client": bench_client, "efficiency": bench_efficiency,
              "c10k": bench_c10k, "cost": bench_cost, "primes": bench_primes, "spread": bench_spread,
              "tls": bench_tls}

if __name__ == "__main__":
    main()

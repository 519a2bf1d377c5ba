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

Servers and load are pinned to different cores with taskset where it works.
Writes OUT/peers.json (every measurement) and OUT/peers.md (the tables).
Only the standard library: any python3 runs it. bench/peers.sh installs what it needs.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runner import list_models

ROOT = Path(__file__).resolve().parent.parent
# Filled in by main() from `crawl --list-models --json` (the C++ model table).
ALL_MODELS = []          # every model, serial first
MODELS = []              # the concurrent ones
EVENT_LOOP_MODELS = []   # those that take --loops
EFFICIENCY_VARIANTS = []  # (model, loops): every concurrent model, the event-loop ones also on 2 loops


def log(msg):
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def pin(core):
    """taskset -c CORE, if taskset exists and there are two cores to split."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, target, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {target} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def wait_ready(port, proc, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited before it was ready (status {proc.returncode})")
        try:
            http_get(port, "/health", timeout=1)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} not ready on port {port} within {timeout} s")


class Process:
    """A server we started: stopped by PID with SIGTERM (then SIGKILL) on exit."""

    def __init__(self, argv, port, what, **kw):
        self.what = what
        self.port = port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
        wait_ready(port, self.proc, what)

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    def memory_kib(self):
        out = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""


def delayserver(build, tmp, core=None, extra=()):
    port = free_port()
    argv = (pin(core) if core is not None else []) + [
        str(build / "delayserver"), "--port", str(port), "--threads", "1",
        "--timeline", str(tmp / f"timeline-{port}.csv"), "--db", str(tmp / f"primes-{port}.sqlite"),
        *extra]
    return Process(argv, port, "delayserver")


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
  }}
}}
"""


def nginx(tmp, core):
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    d = tmp / "nginx"
    d.mkdir(exist_ok=True)
    port = free_port()
    conf = d / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=d, port=port))
    return Process(pin(core) + [exe, "-p", str(d), "-c", str(conf)], port, "nginx")


def wrk(port, seconds, core, connections=64):
    exe = shutil.which("wrk")
    out = subprocess.run(pin(core) + [exe, "-t1", f"-c{connections}", f"-d{seconds}s",
                                      f"http://127.0.0.1:{port}/add?name=wrk&delay=0"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    if bad or errs:
        log(f"wrk saw problems: {bad.group(0) if bad else ''} {errs.group(0) if errs else ''}")
    return rps


def crawl(build, port, model, num, delay, concurrency, core=None, check=True, extra=()):
    argv = (pin(core) if core is not None else []) + [
        str(build / "crawl"), "--model", model, "--url", f"http://127.0.0.1:{port}",
        "--num", str(num), "--delay", str(delay), "--concurrency", str(concurrency), "--json", *extra]
    p = subprocess.run(argv, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"crawl --model {model} failed ({p.returncode}): {p.stderr.strip()}")
    s = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    s["stderr"] = p.stderr
    return s


def medians(rows, group, key, groups):
    """The median of `key` over the rows of each group, e.g. per model."""
    return {str(g): statistics.median(x[key] for x in rows if x[group] == g) for g in groups}


# --- 1. server throughput -----------------------------------------------------

def bench_server(args, build, tmp):
    log(f"server: delayserver vs nginx, wrk -t1 -c64, {args.rounds} x {args.seconds} s each, A B A B")
    ours = delayserver(build, tmp, core=0)
    theirs = nginx(tmp, core=0)
    rows = []
    try:
        wrk(ours.port, 1, 1)  # warm both up
        wrk(theirs.port, 1, 1)
        for r in range(args.rounds):
            a = wrk(ours.port, args.seconds, 1)
            b = wrk(theirs.port, args.seconds, 1)
            rows.append({"round": r + 1, "delayserver_rps": a, "nginx_rps": b, "ratio": a / b})
            log(f"  round {r + 1}: delayserver {a:,.0f}/s, nginx {b:,.0f}/s, ratio {a / b:.3f}")
    finally:
        ours.stop()
        theirs.stop()
    return {"rounds": rows, "ratio_median": statistics.median(x["ratio"] for x in rows)}


# --- 2. client throughput -----------------------------------------------------

def bench_client(args, build, tmp):
    log(f"client: crawl --delay 0 --concurrency 64 --num {args.client_num} vs wrk -t1 -c64")
    srv = delayserver(build, tmp, core=0, extra=["--timeline-capacity", "0"])
    rows = []
    try:
        wrk(srv.port, 1, 1)
        for model in MODELS:
            for r in range(args.client_rounds):
                w = wrk(srv.port, args.seconds, 1)
                s = crawl(build, srv.port, model, args.client_num, 0, 64, core=1)
                rps = s["num"] / s["seconds"]
                rows.append({"model": model, "round": r + 1, "wrk_rps": w, "crawl_rps": rps,
                             "ratio": rps / w, "failed": s["failed"]})
                log(f"  {model} round {r + 1}: crawl {rps:,.0f}/s, wrk {w:,.0f}/s, ratio {rps / w:.3f}")
    finally:
        srv.stop()
    return {"rounds": rows, "ratio_median": medians(rows, "model", "ratio", MODELS)}


# --- 3. efficiency ------------------------------------------------------------

def variant_name(model, loops):
    return model if loops == 1 else f"{model} --loops {loops}"


def bench_efficiency(args, build, tmp):
    n, c, d = 1000, 100, 100
    log(f"efficiency: N={n}, C={c}, delay {d} ms, {args.efficiency_rounds} rounds")
    srv = delayserver(build, tmp)
    rows = []
    try:
        for r in range(args.efficiency_rounds):
            for model, loops in EFFICIENCY_VARIANTS:
                name = variant_name(model, loops)
                s = crawl(build, srv.port, model, n, d, c, extra=["--loops", str(loops)])
                rows.append({"model": model, "loops": loops, "variant": name, "round": r + 1,
                             "seconds": s["seconds"], "ideal_seconds": s["ideal_seconds"],
                             "efficiency": s["efficiency"]})
                log(f"  {name} round {r + 1}: {s['seconds']:.4f} s, efficiency {s['efficiency']:.4f}")
    finally:
        srv.stop()
    names = [variant_name(m, l) for m, l in EFFICIENCY_VARIANTS]
    return {"rounds": rows, "efficiency_median": medians(rows, "variant", "efficiency", names)}


# --- 4. C10K ------------------------------------------------------------------

def bench_c10k(args, build, tmp):
    n = args.c10k
    log(f"c10k: coroutine, {n} URLs at concurrency {n}, delay 1000 ms, {args.rounds} rounds "
        "each of --loops 1 (the book's single event loop) and --loops 2 (both cores)")
    rows = []
    for r in range(args.rounds):
        for loops in (1, 2):
            srv = delayserver(build, tmp)
            try:
                base = srv.memory_kib()["VmRSS"]
                s = crawl(build, srv.port, "coroutine", n, 1000, n, check=False, extra=["--loops", str(loops)])
                peak = srv.memory_kib()["VmHWM"]
                stats = json.loads(http_get(srv.port, "/stats")[1])
                floor = connect_floor(build, srv.port, n, 1000) if loops == 1 else None
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


def callgrind_instructions(argv, **kw):
    with tempfile.NamedTemporaryFile(suffix=".out") as f:
        p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={f.name}"] + argv,
                           capture_output=True, text=True, **kw)
        return callgrind_total(argv[0], p.stderr)


def bench_cost(args, build, tmp):
    log(f"cost: CPU per 1k requests ({args.cost_num} requests, delay 0, C=64); callgrind per request")
    rows = []
    srv = delayserver(build, tmp, core=0, extra=["--timeline-capacity", "0"])
    try:
        for model in ALL_MODELS:
            cpu0 = srv.cpu_seconds()
            s = crawl(build, srv.port, model, args.cost_num, 0, 64, core=1)
            server_cpu = srv.cpu_seconds() - cpu0
            # The client's from crawl's own summary (one definition: the model's
            # run, per 1000 of --num); the server's measured here the same way.
            rows.append({"model": model, "client_cpu_ms_per_1k": s["cost"]["cpu_ms_per_1k"],
                         "server_cpu_ms_per_1k": 1e6 * server_cpu / args.cost_num,
                         "requests_per_second": args.cost_num / s["seconds"]})
            log(f"  {model}: client {rows[-1]['client_cpu_ms_per_1k']:.1f} ms CPU per 1k, "
                f"server {rows[-1]['server_cpu_ms_per_1k']:.1f} ms per 1k")
        if shutil.which("valgrind"):
            small, big = args.callgrind_num // 10, args.callgrind_num
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
        for k in (args.callgrind_num // 10, args.callgrind_num):
            port = free_port()
            out = tmp / f"callgrind-server-{k}.out"
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(build / "delayserver"),
                 "--port", str(port), "--timeline", str(tmp / "cg.csv"), "--db", str(tmp / "cg.sqlite"),
                 "--timeline-capacity", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wait_ready(port, proc, "delayserver under callgrind", timeout=60)
            crawl(build, port, "coroutine", k, 0, 64)
            proc.send_signal(signal.SIGTERM)
            err = proc.communicate(timeout=120)[1]
            totals.append(callgrind_total("delayserver", err))
        per_request = (totals[1] - totals[0]) / (args.callgrind_num - args.callgrind_num // 10)
        log(f"  server: {per_request:,.0f} instructions per request")
        return {"models": rows, "server_instructions_per_request": per_request}
    return {"models": rows}


# --- 6. async prime saver ---------------------------------------------------------

def primes_run(build, port, max_number, concurrency):
    argv = [str(build / "primes"), "--mode", "async", "--max-number", str(max_number),
            "--concurrency", str(concurrency), "--url", f"http://127.0.0.1:{port}", "--json"]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"primes --max-number {max_number} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def connect_floor(build, port, num, delay_ms):
    """What bare sockets take for `num` requests at once on fresh connections."""
    p = subprocess.run([str(build / "connect-floor"), "--port", str(port), "--num", str(num),
                        "--delay", str(delay_ms)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"connect-floor --num {num} failed ({p.returncode}): {p.stderr.strip()} {p.stdout.strip()}")
    return json.loads(p.stdout)


def bench_primes(args, build, tmp):
    latency_ms = 50
    sizes = [(8192, 4096), (args.primes_big, 4096)]
    log(f"primes: --mode async against a {latency_ms} ms database, {args.rounds} rounds of "
        + ", ".join(f"--max-number {m}" for m, _ in sizes))
    rows = []
    srv = delayserver(build, tmp, extra=["--db-latency-ms", str(latency_ms)])
    try:
        for r in range(args.rounds):
            for max_number, conc in sizes:
                http_get(srv.port, "/primes?reset=True")
                s = primes_run(build, srv.port, max_number, conc)
                count = json.loads(http_get(srv.port, "/primes")[1])["count"]
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
                    row["floor_seconds"] = connect_floor(build, srv.port, s["primes"], latency_ms)["seconds"]
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

def bench_spread(args, build, tmp):
    n, c, d = args.spread_num, args.spread_concurrency, 100
    log(f"spread: the event-loop models at N={n}, C={c}, delay {d} ms, {args.rounds} rounds")
    rows = []
    srv = delayserver(build, tmp, extra=["--timeline-capacity", "0"])
    try:
        for r in range(args.rounds):
            for model in EVENT_LOOP_MODELS:
                s = crawl(build, srv.port, model, n, d, c)
                rows.append({"model": model, "round": r + 1, "seconds": s["seconds"],
                             "ideal_seconds": s["ideal_seconds"], "failed": s["failed"]})
                log(f"  {model} round {r + 1}: {s['seconds']:.3f} s (ideal {s['ideal_seconds']:.3f} s), "
                    f"failed {s['failed']}")
    finally:
        srv.stop()
    med = medians(rows, "model", "seconds", EVENT_LOOP_MODELS)
    fastest = min(med.values())
    return {"rounds": rows, "num": n, "concurrency": c, "delay_ms": d, "seconds_median": med,
            "ideal_seconds": rows[0]["ideal_seconds"], "fastest_seconds": fastest,
            "ratio_to_fastest": {m: v / fastest for m, v in med.items()}}


# --- report ----------------------------------------------------------------------

def markdown(res, args):
    out = []
    if "server" in res:
        r = res["server"]
        out += ["## 1. Server throughput: delayserver / nginx (wrk -t1 -c64, delay 0)", "",
                "| round | delayserver req/s | nginx req/s | ratio |", "|---|---|---|---|"]
        out += [f"| {x['round']} | {x['delayserver_rps']:,.0f} | {x['nginx_rps']:,.0f} | {x['ratio']:.3f} |"
                for x in r["rounds"]]
        out += ["", f"Median ratio: **{r['ratio_median']:.3f}** (target >= 0.8)", ""]
    if "client" in res:
        r = res["client"]
        out += ["## 2. Client throughput: crawl / wrk (C=64, delay 0, same delayserver)", "",
                "| model | crawl req/s | wrk req/s | ratio |", "|---|---|---|---|"]
        for m in MODELS:
            xs = [x for x in r["rounds"] if x["model"] == m]
            out.append(f"| {m} | {statistics.median(x['crawl_rps'] for x in xs):,.0f} | "
                       f"{statistics.median(x['wrk_rps'] for x in xs):,.0f} | {r['ratio_median'][m]:.3f} |")
        out += ["", "Ratios are medians of rounds; target >= 0.9 for coroutine.", ""]
    if "efficiency" in res:
        r = res["efficiency"]
        ideal = r["rounds"][0]["ideal_seconds"] if r["rounds"] else 0
        out += [f"## 3. Efficiency: ideal / measured (N=1000, C=100, delay 100 ms, ideal {ideal:.3f} s)", "",
                "| model | event loops | median seconds | efficiency | rounds (efficiency) |",
                "|---|---|---|---|---|"]
        for m, loops in EFFICIENCY_VARIANTS:
            xs = [x for x in r["rounds"] if x["variant"] == variant_name(m, loops)]
            loops_text = str(loops) if m in EVENT_LOOP_MODELS else "none"
            out.append(f"| {m} | {loops_text} | {statistics.median(x['seconds'] for x in xs):.4f} | "
                       f"{r['efficiency_median'][variant_name(m, loops)]:.4f} | "
                       f"{min(x['efficiency'] for x in xs):.3f}-{max(x['efficiency'] for x in xs):.3f} |")
        out += ["", "Target >= 0.97 for every async model.", ""]
    if "c10k" in res:
        r = res["c10k"]
        ideal = r["rounds"][0]["ideal_seconds"] if r["rounds"] else 0
        out += [f"## 4. C10K: coroutine, {args.c10k} URLs at concurrency {args.c10k}, delay 1 s "
                f"(ideal {ideal:.3f} s)", "",
                "| round | --loops | seconds | failed | server bytes per connection |", "|---|---|---|---|---|"]
        out += [f"| {x['round']} | {x['loops']} | {x['seconds']:.3f} | {x['failed']} | "
                f"{x['server_bytes_per_connection']:,.0f} |" for x in r["rounds"]]
        out += ["", f"Median: **{r['seconds_median']['1']:.3f} s** with one event loop, "
                f"**{r['seconds_median']['2']:.3f} s** with two (target <= 1.2 s); "
                f"**{r['bytes_per_connection_median']:,.0f} B** of server memory per connection (target <= 4096). "
                f"Bare sockets (`connect-floor`, one thread, the same {args.c10k} requests after each one-loop "
                f"round): **{r['floor_seconds_median']:.3f} s**.", ""]
    if "cost" in res:
        r = res["cost"]
        out += [f"## 5. Cost per request ({args.cost_num} requests, delay 0, C=64)", "",
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
        out += ["", "Targets: every model within 1.5x of the fastest, the fastest within 2x of the ideal.", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "build"), help="folder with delayserver and crawl")
    ap.add_argument("--out", default=None, help="results folder (default results/peers-<time>)")
    ap.add_argument("--only", default="server,client,efficiency,c10k,cost,primes,spread",
                    help="comma-separated subset of server,client,efficiency,c10k,cost,primes,spread")
    ap.add_argument("--quick", action="store_true", help="short runs, for CI")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--efficiency-rounds", type=int, default=8,
                    help="rounds of benchmark 3 (about 1 s per model and round)")
    ap.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    args = ap.parse_args()
    args.client_num, args.client_rounds = 100_000, 3
    args.c10k, args.cost_num, args.callgrind_num, args.primes_big = 10_000, 50_000, 5_000, 2**20
    args.spread_num, args.spread_concurrency = 20_000, 9_000
    if args.quick:
        args.rounds, args.seconds, args.client_rounds, args.efficiency_rounds = 2, 1, 1, 2
        args.client_num, args.c10k, args.cost_num, args.callgrind_num = 20_000, 2_000, 10_000, 1_000
        args.primes_big = 2**17
        args.spread_num, args.spread_concurrency = 4_000, 2_000
    build = Path(args.build)
    # The event-loop models run with the book's single loop and with one loop per
    # core (--loops 2); the others have no loops.
    global ALL_MODELS, MODELS, EVENT_LOOP_MODELS, EFFICIENCY_VARIANTS
    table = list_models(str(build / "crawl"))
    ALL_MODELS = [m["name"] for m in table]
    MODELS = [m["name"] for m in table if not m["one_in_flight"]]
    EVENT_LOOP_MODELS = [m["name"] for m in table if m["event_loops"]]
    EFFICIENCY_VARIANTS = [(m, 1) for m in MODELS] + [(m, 2) for m in EVENT_LOOP_MODELS]
    out = Path(args.out or ROOT / "results" / time.strftime("peers-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    wanted = args.only.split(",")
    steps = {"server": bench_server, "client": bench_client, "efficiency": bench_efficiency,
             "c10k": bench_c10k, "cost": bench_cost, "primes": bench_primes, "spread": bench_spread}
    unknown = set(wanted) - set(steps)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    res = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": os.uname().nodename,
           "cores": os.cpu_count(), "quick": args.quick}
    with tempfile.TemporaryDirectory() as t:
        for name in wanted:
            res[name] = steps[name](args, build, Path(t))
            (out / "peers.json").write_text(json.dumps(res, indent=1))
    md = markdown(res, args)
    (out / "peers.md").write_text(md)
    print(md)
    log(f"wrote {out}/peers.json and {out}/peers.md")


if __name__ == "__main__":
    main()

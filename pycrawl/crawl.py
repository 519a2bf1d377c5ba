#!/usr/bin/env python3
"""Runs one Python model (models.py) over the very URLs `crawl` would fetch
for the same settings (crawl --print-urls), writes its client timeline in
crawl's CSV format, and prints the summary `crawl summarize` derives from it:
no figure is computed here.

  crawl.py --model py-aiohttp --crawl build/crawl --url http://127.0.0.1:8080 \
           --num 500 --concurrency 100 --delay 100 --seed 7 [--timeline F.csv] [--json]

The timed window is the model's run alone, as the book's time.time() calls:
the interpreter's start, the imports and the URL list come before it. Exit 3
and one line naming the Debian package when a library is missing; 2 on bad
usage; 1 when a request failed (as crawl).
"""
import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from measure import CostMeter, Recorder  # noqa: E402

COLUMNS = "model,index,start,end,bytes,status,attempts,conn,opened,delay,intended,work_us,connect_us"


def seconds(us):
    return f"{us // 1_000_000}.{us % 1_000_000:06d}"


def timeline_csv(model, rec):
    """crawl's client timeline; conn, opened and connect_us are left empty (the
    libraries hide their connections), delay is the server's X-Delay-Us."""
    lines = [COLUMNS]
    for i in range(len(rec.start)):
        delay = "" if rec.delay_us[i] is None else seconds(rec.delay_us[i])
        lines.append(f"{model},{i},{seconds(rec.start[i])},{seconds(rec.end[i])},{rec.bytes[i]},"
                     f"{rec.status[i]},1,,,{delay},,0,")
    return "\n".join(lines) + "\n"


def accepted(url):
    """The server's count of connections it has accepted (its /stats), or
    None with the reason on stderr (a dead server: the run goes on, and its
    requests fail with their reasons)."""
    try:
        with urllib.request.urlopen(url + "/stats", timeout=10) as r:
            return json.load(r)["accepted"]
    except (OSError, ValueError, KeyError) as e:
        print(f"pycrawl: {url}/stats: {e} (connections opened not counted)", file=sys.stderr)
        return None


def missing_packages(model):
    return [(pkg, mod) for pkg, mod in model.packages.items() if importlib.util.find_spec(mod) is None]


def run_model(model, module, urls, args, rec):
    """The timed window: the model's run, measured. What it did not finish is
    failed with the reason it stopped; returns (seconds, stopped_early)."""
    stopped = None
    t0 = time.monotonic()
    try:
        module.crawl(urls, args.concurrency, rec, args.timeout_ms / 1000, model.loop)
    except Exception as e:  # the model stopped: what it measured is kept
        stopped = f"{type(e).__name__}: {e}"
    elapsed = time.monotonic() - t0
    for i in rec.unfinished():
        rec.failed(i, stopped or "the model returned without finishing it")
    return elapsed, stopped


def run_json(model, args, num, elapsed, rec, stopped, cost):
    """The run as crawl --json states it (its settings and what only the
    running process saw), for crawl summarize --run."""
    return {"model": model.name, "name": args.name, "url": args.url, "num": num,
            "concurrency": 1 if model.one_in_flight else args.concurrency, "delay_ms": args.delay, "loops": 1,
            "max_retries": 0, "batched": False, "seed": args.seed, "delay_dist": args.delay_dist,
            "seconds": elapsed, "seconds_from": "clock", "errors": dict(rec.errors),
            "stopped_early": stopped, "cost": cost, "open_loop": None}


def summarize(crawl, timeline, run, as_json):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(run, f)
    try:
        argv = [crawl, "summarize", timeline, "--run", f.name] + (["--json"] if as_json else [])
        return subprocess.run(argv).returncode
    finally:
        os.unlink(f.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=models.NAMES)
    ap.add_argument("--crawl", default="build/crawl", help="crawl, for the URLs and the summary")
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--num", "-n", type=int, default=500)
    ap.add_argument("--concurrency", "-c", type=int, default=100)
    ap.add_argument("--delay", "-d", type=int, default=100)
    ap.add_argument("--delay-dist", default="fixed", help="as crawl's: sent in every URL")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--name", help="the name sent to the server (default: the model's)")
    ap.add_argument("--timeout-ms", type=int, default=0, help="per request; 0: the delay plus 10 s")
    ap.add_argument("--timeline", help="write the client timeline here (default: a scratch file)")
    ap.add_argument("--json", action="store_true", help="print crawl's JSON summary")
    args = ap.parse_args()
    model = models.find(args.model)
    if args.concurrency < 1 or args.num < 0 or args.seed < 1:
        ap.error("--concurrency must be at least 1, --num not negative, --seed at least 1")
    missing = missing_packages(model)
    if missing:
        print(f"pycrawl: {model.name} needs {', '.join(p for p, _ in missing)} (no module "
              f"{', '.join(m for _, m in missing)}): apt-get install --no-install-recommends "
              f"{' '.join(p for p, _ in missing)}", file=sys.stderr)
        return 3
    args.name = args.name or model.name
    args.timeout_ms = args.timeout_ms or args.delay + 10_000
    num = args.num if model.max_num is None else min(args.num, model.max_num)
    try:
        listed = subprocess.run([args.crawl, "--print-urls", "--name", args.name, "--num", str(num), "--seed",
                                 str(args.seed), "--delay", str(args.delay), "--delay-dist", args.delay_dist,
                                 "--url", args.url],
                                capture_output=True, text=True)
    except OSError as e:
        print(f"pycrawl: cannot run crawl (--crawl {args.crawl}): {e}", file=sys.stderr)
        return 2
    if listed.returncode != 0:
        print(f"pycrawl: {listed.stderr.strip()}", file=sys.stderr)
        return 2
    urls = listed.stdout.split()
    module = importlib.import_module(model.module)  # imports (and gevent's patching) before the clock
    before = accepted(args.url)

    rec = Recorder(len(urls))
    meter = CostMeter()
    meter.start()
    elapsed, stopped = run_model(model, module, urls, args, rec)
    cost = meter.stop(connections_opened=0)
    after = accepted(args.url) if before is not None else None  # after the window: not in its cost
    if after is not None:
        cost["connections_opened"] = max(0, after - before - 1)  # less this /stats's own connection
    if stopped:
        print(f"pycrawl: {model.name} stopped: {stopped}", file=sys.stderr)

    timeline = args.timeline
    if not timeline:
        fd, timeline = tempfile.mkstemp(suffix=".csv")
        os.close(fd)
    with open(timeline, "w") as f:
        f.write(timeline_csv(model.name, rec))
    try:
        return summarize(args.crawl, timeline, run_json(model, args, len(urls), elapsed, rec, stopped, cost),
                         args.json)
    finally:
        if not args.timeline:
            os.unlink(timeline)


if __name__ == "__main__":
    sys.exit(main())

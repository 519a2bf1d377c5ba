#!/usr/bin/env python3
"""The Python models (pycrawl/) against the real delayserver, run by CTest:

  models     every model of pycrawl/models.py fetches N URLs: the exact byte
             sum, no failure, crawl summarize's summary with the run's cost,
             and each URL's delay the very one the C++ model got for the
             same seed (the server draws lognormal delays per URL)
  missing    a Python without Debian's packages (python3 -S: no site
             directories): exit 3 and one line naming the package; and a
             dead server: said so, every request failed with its reason, the
             timeline and the summary written all the same, exit 1
  stage      the python stage with a timeout no model can meet: each model
             recorded as failed with its reason, every C++ counterpart still
             run, the summary and rows written, exit 1
  post       POST /add as the later editions' workload.py posts (requests.post,
             aiohttp's session.post in batches): .json() gives the body back;
             an oversized and a non-UTF-8 body get their 4xx and reason

Usage: python_models_test.py BUILD CASE   (exit 77: no Python with the libraries)
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from runner import Delayserver  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "pycrawl"))
import models  # noqa: E402  (pycrawl/models.py)

N, C, DELAY, SEED = 40, 8, 20, 4242
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def delays(path):
    with open(path, newline="") as f:
        return {int(r["index"]): r["delay"] for r in csv.DictReader(f)}


def pycrawl(build, url, model, timeline, python=sys.executable, extra=()):
    argv = [python, *extra, os.path.join(ROOT, "pycrawl", "crawl.py"), "--model", model, "--crawl",
            os.path.join(build, "crawl"), "--url", url, "--num", str(N), "--concurrency", str(C), "--delay",
            str(DELAY), "--seed", str(SEED), "--delay-dist", "lognormal:sigma=0.5", "--timeline", timeline, "--json"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def case_models(build, url, scratch):
    cpp_timeline = os.path.join(scratch, "cpp.csv")
    subprocess.run([os.path.join(build, "crawl"), "--model", "coroutine", "--url", url, "--num", str(N),
                    "--concurrency", str(C), "--delay", str(DELAY), "--delay-dist", "lognormal:sigma=0.5",
                    "--seed", str(SEED), "--timeline", cpp_timeline], check=True, capture_output=True)
    want = delays(cpp_timeline)
    check(len(set(want.values())) > N // 2, f"the C++ run's {N} delays vary ({len(set(want.values()))} distinct)")
    for m in models.MODELS:
        timeline = os.path.join(scratch, f"{m.name}.csv")
        p = pycrawl(build, url, m.name, timeline)
        check(p.returncode == 0, f"{m.name} exits 0 ({p.returncode}: {p.stderr.strip()[-300:]})")
        if p.returncode != 0:
            continue
        s = json.loads(p.stdout.strip().splitlines()[-1])
        n = N if m.max_num is None else min(N, m.max_num)
        check(s["model"] == m.name and s["num"] == n and s["bytes"] == n and s["failed"] == 0,
              f"{m.name}: {n} requests, {n} bytes (one '.' each), none failed (got {s['num']}, {s['bytes']}, "
              f"{s['failed']})")
        check(s["concurrency"] == (1 if m.one_in_flight else C), f"{m.name}: concurrency {s['concurrency']}")
        got = delays(timeline)
        check(got == {i: want[i] for i in range(n)}, f"{m.name}: every URL's delay is the C++ run's")
        cost = s["cost"] or {}
        check(cost.get("cpu_ms_per_1k", 0) > 0 and cost.get("peak_rss_kib", 0) > 0
              and cost.get("peak_threads", 0) >= 1 and cost.get("connections_opened", 0) >= 1,
              f"{m.name}: its cost measured ({cost})")
        check(s["seconds_from"] == "clock" and s["efficiency"] is not None and 0 < s["efficiency"] <= 1.05,
              f"{m.name}: efficiency {s['efficiency']} from the run's own clock")
        # The same timeline summarized again, alone: the same requests and bytes.
        again = subprocess.run([os.path.join(build, "crawl"), "summarize", timeline, "--json"],
                               capture_output=True, text=True)
        a = json.loads(again.stdout) if again.returncode == 0 else {}
        check(a.get("bytes") == n and a.get("answered") == n and a.get("model") == m.name,
              f"{m.name}: crawl summarize reads its timeline ({again.stderr.strip()})")


def case_missing(build, url, scratch):
    p = pycrawl(build, url, "py-gevent", os.path.join(scratch, "g.csv"), extra=["-S"])
    lines = p.stderr.strip().splitlines()
    check(p.returncode == 3, f"without site packages: exit 3 (got {p.returncode})")
    check(len(lines) == 1 and "python3-gevent" in lines[0] and "apt-get install" in lines[0],
          f"one line naming python3-gevent: {lines}")
    check(not os.path.exists(os.path.join(scratch, "g.csv")), "no timeline for a run that never started")
    dead = f"http://127.0.0.1:{dead_port()}"
    timeline = os.path.join(scratch, "dead.csv")
    p = pycrawl(build, dead, "py-aiohttp", timeline)
    s = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    check(p.returncode == 1 and s.get("failed") == N and s.get("bytes") == 0,
          f"a dead server: exit 1, {N} failed ({p.returncode}, {s.get('failed')})")
    check("Connection refused" in p.stderr or "Cannot connect" in p.stderr, f"and says why: {p.stderr.strip()[-200:]}")
    check(os.path.exists(timeline) and len(delays(timeline)) == N, "its timeline written all the same")


def dead_port():
    """A loopback port nothing listens on (bound, then closed)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def case_stage(build, url, scratch):
    out = os.path.join(scratch, "run")
    os.mkdir(out)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "stages.py"), "run", "python", "--out", out,
                        "--build", build, "--quick", "--set", "timeout_s=0", "--set", "num=20",
                        "--set", 'models=["py-gevent", "py-aiohttp"]'], capture_output=True, text=True, timeout=300)
    check(p.returncode == 1, f"the stage says it failed (exit {p.returncode})")
    with open(os.path.join(out, "python-summary.json")) as f:
        summary = json.load(f)
    fails = summary["failures"]
    check(len(fails) == 2 and all("did not finish within 0 s" in f for f in fails),
          f"each model failed with its reason: {fails}")
    check([r["model"] for r in summary["runs"]] == ["greenlet", "coroutine"],
          "the C++ counterparts still ran")
    with open(os.path.join(out, "python.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    check([r["model"] for r in rows] == ["py-gevent", "py-aiohttp"] and all(r["error"] for r in rows),
          "a row for each, with its error")
    check(summary["python"]["libraries"]["gevent"]["version"] is not None, "the libraries' versions recorded")


def case_post(build, url, scratch):
    import asyncio

    import aiohttp
    import requests
    hashes = [f"$2b$12${'abcdefghijklmnopqrstuv'[k:]}{k:03d}\"q\\" for k in range(20)]
    r = requests.post(url + "/add", data=hashes[0])  # save_result_serial
    check(r.status_code == 200 and r.json() == {"result": hashes[0], "t": 0.1},
          f"requests.post: 200 and the body back ({r.status_code} {r.text[:80]})")

    async def batch():  # the AsyncBatcher's flush: every save of a batch at once
        async with aiohttp.ClientSession() as session:
            async def fetch(result):
                async with session.post(url + "/add", data=result) as response:
                    return await response.json()
            return await asyncio.gather(*(fetch(h) for h in hashes))
    got = asyncio.run(batch())
    check([g["result"] for g in got] == hashes and all(g["t"] == 0.1 for g in got),
          "aiohttp session.post, 20 at once: each body back")
    big = requests.post(url + "/add", data="x" * 5000)
    check(big.status_code == 413 and "larger than 4096 bytes" in big.text, f"5000 bytes: 413 ({big.text.strip()})")
    bad = requests.post(url + "/add", data=b"\xff\xfe")
    check(bad.status_code == 400 and "not UTF-8" in bad.text, f"not UTF-8: 400 ({bad.text.strip()})")
    with urllib.request.urlopen(url + "/timeline") as t:
        rows = list(csv.DictReader(t.read().decode().splitlines()))
    check(sum(r["name"] == "post" for r in rows) == 21, "the 21 good POSTs recorded, the bad ones not")


def main():
    build, case = sys.argv[1], sys.argv[2]
    if [m for m in models.MODELS for mod in m.packages.values()
            if subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True).returncode]:
        print("SKIP: this Python lacks the models' libraries (scripts/setup.sh --python-models)")
        return 77
    cases = {"models": case_models, "missing": case_missing, "stage": case_stage, "post": case_post}
    with tempfile.TemporaryDirectory(prefix="pymodels-") as scratch:
        server = Delayserver(os.path.join(build, "delayserver"),
                             ["--timeline", os.path.join(scratch, "t.csv"), "--db", os.path.join(scratch, "p.sqlite"),
                              "--seed", "99"], log=os.path.join(scratch, "server.log"))
        try:
            cases[case](build, server.url, scratch)
        finally:
            server.stop()
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

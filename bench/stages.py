#!/usr/bin/env python3
"""benchmark.sh's stages: the one table of what each runs and with which
settings (full and --quick), and the runner that gives a stage a delayserver of
its own, runs it, and leaves its rows and its STAGE-summary.json (settings,
seed, the server's options, every run's --json) in the run folder.

  stages.py list                   the stages, with their settings, for --help
  stages.py select [LIST] [--skip LIST]
                                   the stages of a comma-separated LIST (default
                                   all) but those skipped, checked, one a line in
                                   the order they run
  stages.py run STAGE --out DIR [--build B] [--quick] [--set KEY=VALUE ...]
                                   runs one stage into DIR (exit 1: it failed)

The names of the files are runfolder.py's. Standard library only.
"""
import argparse
import json
import os
import signal
import sys
import tempfile
from collections import namedtuple

import connections
import load
import models
import primes_sweep
import python_models
import runfolder
import savers
import scale
import spike
import stealing
import sweep
import tails
import tls
import work
from runner import Delayserver, list_models, list_prime_modes, write_rows

# The one seed of a run: the crawls' URLs (hence every drawn delay) and the
# server's draws.
SEED = 2026
TAIL = "lognormal:sigma=0.6"

# The concurrent Python models (pycrawl/models.py: all but the serial one).
PY_CONCURRENT = [m.name for m in python_models.pymodels.MODELS if not m.one_in_flight]

# module: run(ctx, settings, got); full: the default settings; quick: what
# --quick changes; keep: which of the server's files the folder keeps (the
# rest go to a scratch folder; "resources": the server writes what it spent
# over time); server: options from the settings.
Row = namedtuple("Row", "module full quick keep server")
TABLE = {
    "crawl": Row(models, dict(num=500, delay_ms=100, concurrency=100),
                 dict(num=200, delay_ms=25, concurrency=50),
                 ("timeline", "resources"), lambda s: ["--max-delay-ms", "600000"]),
    "python": Row(python_models, dict(num=500, delay_ms=100, concurrency=100, timeout_s=60,
                                      models=list(python_models.pymodels.NAMES)),
                  dict(num=200, delay_ms=25, concurrency=50),
                  (), lambda s: []),
    "sweep": Row(sweep, dict(model="coroutine", num=100, delays_ms=[25, 50, 100],
                             concurrency=[1, 5, 10, 20, 50, 100, 200, 400],
                             python_models=["py-aiohttp"], python_delays_ms=[50], timeout_s=120),
                 dict(num=50, delays_ms=[10, 25, 50], concurrency=[1, 5, 10, 25, 50, 100], python_delays_ms=[25]),
                 (), lambda s: []),
    "scale": Row(scale, dict(concurrency=[10, 100, 1000, 10000], multiple=2, delay_ms=100, timeout_s=120,
                             python_models=PY_CONCURRENT, python_max_concurrency=1000),
                 dict(concurrency=[10, 100, 1000], python_max_concurrency=0),
                 ("resources",), lambda s: []),
    "primes": Row(savers, dict(max_number=8192), {}, ("database",), lambda s: []),
    "primes-sweep": Row(primes_sweep, dict(min_exp=7, max_exp=14, serial_max_exp=10, extend_exp=17,
                                           extend_modes=["noio", "async"]),
                        dict(max_exp=12, serial_max_exp=8, extend_exp=14),
                        ("database",), lambda s: []),
    "tails": Row(tails, dict(num=1000, concurrency=100, delay_ms=100, delay_dist=TAIL),
                 dict(num=400, concurrency=50, delay_ms=25),
                 ("timeline",), lambda s: []),
    "tails-primes": Row(savers, dict(max_number=8192, db_latency_dist=TAIL), {},
                        ("database",), lambda s: ["--db-latency-dist", s["db_latency_dist"]]),
    "work": Row(work, dict(work_us=[0, 250, 1000, 4000], num=500, concurrency=100, delay_ms=100, loops=[1, 2]),
                dict(work_us=[0, 250, 1000], num=200, concurrency=50, delay_ms=25),
                (), lambda s: []),
    "stealing": Row(stealing, dict(work=["none", "spin:us=200,dist=lognormal,sigma=1.5"], num=2000, concurrency=100,
                                   delay_ms=50, loop_model="coroutine", lanes=[1, 2]),
                    dict(num=600, concurrency=50, delay_ms=25),
                    (), lambda s: []),
    "connections": Row(connections, dict(concurrency=[100, 1000], multiple=6, delay_ms=100,
                                         policies=["keepalive", "reuse:5", "close"]),
                       dict(concurrency=[50, 500], multiple=4, delay_ms=25, policies=["keepalive", "reuse:2", "close"]),
                       (), lambda s: []),
    "tls": Row(tls, dict(keys=["ecdsa", "rsa"], concurrency=[100, 500], multiple=2, delay_ms=100,
                         variants=["keepalive", "close-resume", "close-full", "plain-keepalive", "plain-close"]),
               dict(keys=["ecdsa"], concurrency=[50], delay_ms=25,
                    variants=["keepalive", "close-resume", "close-full"]),
               (), lambda s: []),
    "load": Row(load, dict(rates=[400, 800, 1000, 1100, 1200], concurrency=100, delay_ms=100,
                           duration_s=1.5, arrivals="constant"),
                dict(rates=[1000, 2000, 2500], concurrency=50, delay_ms=25, duration_s=1),
                ("timeline",), lambda s: []),
    "spike": Row(spike, dict(base=500, peak=1500, at_s=1, length_s=1, duration_s=4, concurrency=100, delay_ms=100,
                             work=["none", "spin:us=1000"]),
                 dict(base=800, peak=2400, at_s=0.3, length_s=0.3, duration_s=1.2, concurrency=50, delay_ms=25,
                      work=["none", "spin:us=250"]),
                 ("resources",), lambda s: []),
}
assert tuple(TABLE) == runfolder.STAGE_NAMES, "stages.py and runfolder.py list the same stages"


def settings(stage, quick=False, overrides=()):
    """A stage's settings: full, or with --quick's changes, then KEY=VALUE
    overrides (JSON values, or text) on keys the stage has."""
    row = TABLE[stage]
    s = {**row.full, **(row.quick if quick else {})}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in s:
            raise SystemExit(f"stages: {stage} has no setting {key!r} (it has {', '.join(s)})")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if type(value) is not type(s[key]):
            raise SystemExit(f"stages: {stage} {key}={text!r}: expected a {type(s[key]).__name__}")
        s[key] = value
    return s


class Got:
    """What a stage has gathered so far: written even when the stage stops
    half way, so nothing it measured is lost."""

    def __init__(self, stage):
        self.stage, self.runs, self.rows, self.failures = stage, [], [], []
        self.extra = {}  # more keys for the summary, the stage's own

    def fail(self, why):
        print(f"{self.stage}: {why}", file=sys.stderr, flush=True)
        self.failures.append(why)


Context = namedtuple("Context", "stage crawl primes url seed models modes file")


def server_args(stage, s, out, scratch):
    keep = TABLE[stage].keep
    timeline = runfolder.server_timeline_name(stage) if "timeline" in keep else None
    resources = ["--resources", os.path.join(out, runfolder.server_resources_name(stage))] if "resources" in keep else []
    database = runfolder.database_name(stage) if "database" in keep else None
    return ["--seed", str(SEED),
            "--timeline", os.path.join(out, timeline) if timeline else os.path.join(scratch, "timeline.csv"),
            "--db", os.path.join(out, database) if database else os.path.join(scratch, "primes.sqlite"),
            *resources, *TABLE[stage].server(s)]


def run_stage(stage, out, build, s):
    """Runs one stage against a server of its own; its failures (empty: none)."""
    got = Got(stage)
    crawl, primes = os.path.join(build, "crawl"), os.path.join(build, "primes")
    table, modes = list_models(crawl), list_prime_modes(primes)
    # The table the stage's runs come from, so readers need not ask the programs.
    module = TABLE[stage].module
    extra = {"models": table} if module.PROGRAM == "crawl" else {"modes": modes}
    with tempfile.TemporaryDirectory(prefix=f"stage-{stage}-") as scratch:
        args = server_args(stage, s, out, scratch)
        server = Delayserver(os.path.join(build, "delayserver"), args,
                             log=os.path.join(out, runfolder.server_log_name(stage)))
        try:
            ctx = Context(stage, crawl, primes, server.url, SEED, table, modes,
                          lambda name: os.path.join(out, name))
            module.run(ctx, s, got)
        finally:
            if server.stop() != 0:
                got.fail(f"the server exited {server.proc.returncode} (see {runfolder.server_log_name(stage)})")
            fields = getattr(module, "FIELDS", None)
            if fields:
                write_rows(os.path.join(out, runfolder.rows_name(stage)), fields, got.rows)
            public = [a.replace(scratch, "(scratch)").replace(out.rstrip("/") + "/", "") for a in args]
            runfolder.write_summary(out, stage, s, SEED, got.runs, server={"seed": SEED, "options": public},
                                    failures=got.failures, **extra, **got.extra)
    return got.failures


def describe(stage, quick):
    s = settings(stage, quick)
    def value(v):  # a list as a,b,c; as a; b; c where an item has commas of its own
        if not isinstance(v, list):
            return str(v)
        return ("; " if any("," in str(x) for x in v) else ",").join(map(str, v))
    return ", ".join(f"{k}={value(v)}" for k, v in s.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    p = sub.add_parser("select")
    p.add_argument("stages", nargs="?", default=",".join(runfolder.STAGE_NAMES))
    p.add_argument("--skip", default="", help="stages to leave out")
    p = sub.add_parser("run")
    p.add_argument("stage", choices=runfolder.STAGE_NAMES)
    p.add_argument("--out", required=True)
    p.add_argument("--build", default="build")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    if args.command == "list":
        for st in runfolder.STAGES:
            print(f"  {st.name:<13} {st.title}: {st.files}\n"
                  f"  {'':<13} {describe(st.name, False)}\n"
                  f"  {'':<13} --quick: {describe(st.name, True)}")
        return 0
    if args.command == "select":
        wanted = [w for w in args.stages.split(",") if w]
        skip = [w for w in args.skip.split(",") if w]
        unknown = [w for w in wanted + skip if w not in TABLE]
        if unknown or not wanted:
            print(f"benchmark.sh: no stage {', '.join(unknown) or '(none named)'} "
                  f"(the stages: {', '.join(runfolder.STAGE_NAMES)})", file=sys.stderr)
            return 2
        chosen = [n for n in runfolder.STAGE_NAMES if n in wanted and n not in skip]
        if not chosen:
            print("benchmark.sh: no stage left to run", file=sys.stderr)
            return 2
        print("\n".join(chosen))
        return 0
    s = settings(args.stage, args.quick, args.set)
    # A signal ends the stage through its `finally`: the server is stopped and
    # waited for (no process of ours outlives us), what was measured is written.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: sys.exit(128 + signum))
    return 1 if run_stage(args.stage, args.out, args.build, s) else 0


if __name__ == "__main__":
    sys.exit(main())

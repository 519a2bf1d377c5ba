"""The run folder's contract: the name of every file benchmark.sh's stages
write, in one place. bench/ writes through it; plots/ and the report read
through it. Standard library only.

A stage STAGE leaves, beside its rows:
    STAGE-summary.json   {"stage", "title", "settings", "seed", "server", "runs", ...}:
                         the settings it really ran with, its seed, the server's
                         options, and each run's --json object (a point that gave
                         none: its model, concurrency, N and error)
    STAGE.csv            one row per run, for the stages that have rows
    STAGE-server.log     the delayserver the stage ran against
and, for some, STAGE-server-timeline.csv, STAGE-server-resources.csv,
STAGE-resources-LABEL.csv and STAGE.sqlite (below).
"""
import json
import os
from collections import namedtuple

# The stages in the order benchmark.sh runs them; `files` says what each adds
# to its summary, for --help and the README.
Stage = namedtuple("Stage", "name title files")
STAGES = (
    Stage("crawl", "every model side by side, with each request's life",
          "client-MODEL.csv, crawl-resources-MODEL.csv, crawl-server-timeline.csv"),
    Stage("python", "the book's own Python models beside the C++ model each mirrors",
          "python.csv, python-LABEL.csv"),
    Stage("sweep", "the concurrency sweep (Figure 8-3)", "sweep.csv"),
    Stage("scale", "every concurrent model from C = 10 up", "scale.csv, scale-resources-MODEL-CN.csv"),
    Stage("primes", "the prime savers with their call graphs", "primes-MODE.csv, primes.sqlite"),
    Stage("primes-sweep", "every prime mode over max_number (Figure 8-7)", "primes-sweep.csv"),
    Stage("tails", "long-tailed delays: each semaphore against the batched pattern",
          "tails.csv, tails-MODEL[-batched].csv, tails-server-timeline.csv"),
    Stage("tails-primes", "the prime savers against a long-tailed database",
          "tails-primes-MODE.csv, tails-primes.sqlite"),
    Stage("work", "CPU work on every answer: where each model leaves the I/O-bound regime", "work.csv"),
    Stage("stealing", "uneven work: one loop, static shards of it (--loops) and tasks over a pool of threads (mn)",
          "stealing.csv"),
    Stage("connections", "what a connection costs: keep-alive, reuse and a connect per request",
          "connections.csv"),
    Stage("tls", "what a TLS handshake costs each model: keep-alive, resumed and full handshakes",
          "tls.csv"),
    Stage("load", "an open loop: requests due at a series of rates", "load.csv, load-server-timeline.csv"),
    Stage("spike", "a spike past capacity: the backlog over time and how long each model takes to recover",
          "spike.csv, spike-resources-MODEL-WORK.csv"),
)
STAGE_NAMES = tuple(s.name for s in STAGES)

MANIFEST = "manifest.json"
REPORT = "report.html"


def _check(stage):
    if stage not in STAGE_NAMES:
        raise ValueError(f"no stage {stage!r} (stages: {', '.join(STAGE_NAMES)})")
    return stage


def summary_name(stage):
    return f"{_check(stage)}-summary.json"


def rows_name(stage):
    """The stage's table of runs, one row each."""
    return f"{_check(stage)}.csv"


def server_log_name(stage):
    return f"{_check(stage)}-server.log"


def keyed_server_log_name(stage, key):
    """The log of one more server a stage runs (the tls stage's, one per key)."""
    return f"{_check(stage)}-server-{key}.log"


def resources_name(stage, label):
    """What one crawl spent over time (crawl --resources): LABEL is its model,
    or its model and what sets the run apart (scale-resources-threads-C10000.csv)."""
    return f"{_check(stage)}-resources-{label}.csv"


def server_resources_name(stage):
    """What the stage's server spent over time (delayserver --resources)."""
    return f"{_check(stage)}-server-resources.csv"


def server_timeline_name(stage):
    return f"{_check(stage)}-server-timeline.csv"


def database_name(stage):
    return f"{_check(stage)}.sqlite"


def client_timeline_name(model):
    """A crawl stage model's own timeline (crawl --timeline)."""
    return f"client-{model}.csv"


def python_timeline_name(label):
    """A python stage run's timeline: a Python model's (python-py-gevent.csv) or
    its C++ counterpart's (python-coroutine-spawn-all.csv)."""
    return f"python-{label}.csv"


def tails_timeline_name(model, batched):
    return f"tails-{model}{'-batched' if batched else ''}.csv"


def primes_timeline_name(stage, mode):
    """A prime saver's timeline in a primes stage (primes, tails-primes)."""
    return f"{_check(stage)}-{mode}.csv"


def picture_name(stage, what=None):
    """A stage's picture: STAGE.png, or STAGE-WHAT.png (crawl-comparison.png)."""
    return f"{_check(stage)}{'-' + what if what else ''}.png"


def path(directory, name):
    return os.path.join(directory, name)


def write_summary(directory, stage, settings, seed, runs, **more):
    """STAGE-summary.json, written whole or not at all."""
    title = next(s.title for s in STAGES if s.name == stage)
    doc = {"stage": stage, "title": title, "settings": settings, "seed": seed, **more}
    # A key a line, and a run a line: readable with less, small with many runs.
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in doc.items()]
    lines.append(' "runs": [' + ",".join("\n  " + json.dumps(r) for r in runs) + ("\n ]" if runs else "]"))
    write_atomic(path(directory, summary_name(stage)), "{\n" + "\n".join(lines) + "\n}\n")


def read_summary(directory, stage, unreadable=None):
    """STAGE-summary.json as a dict, None when the run did not have the stage.
    One that cannot be read is None too, with the reason in `unreadable`
    (a dict: file name -> why) when given, else raised."""
    name = summary_name(stage)
    p = path(directory, name)
    if not os.path.exists(p):
        return None
    try:
        with open(p, encoding="utf-8") as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
            raise ValueError("not a stage summary (an object with a list of runs)")
        return doc
    except (OSError, ValueError) as e:
        if unreadable is None:
            raise
        unreadable[name] = str(e)
        return None


def stages_in(directory):
    """The stages whose summaries the folder holds, in the run's order."""
    return [s for s in STAGE_NAMES if os.path.exists(path(directory, summary_name(s)))]


def write_atomic(p, text):
    """Writes a file whole or not at all: a temporary file beside it, synced,
    then renamed over it (a full disk leaves the old file, never 0 bytes)."""
    tmp = f"{p}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

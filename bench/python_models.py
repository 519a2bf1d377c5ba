"""The python stage: the book's own models (pycrawl/, its table in
pycrawl/models.py) beside the C++ model each mirrors, on the same server,
fetching the same URLs (crawl --print-urls, so the same delays), at the main
settings. Each Python run is bounded by a timeout; one that fails, hangs or
lacks its library is recorded with its reason and the stage goes on. One row
a Python model in python.csv: its figures, its counterpart's and the ratio of
each (crawl compare); the timelines (python-LABEL.csv) for the chronologies
on one time axis. Every figure is crawl's (crawl summarize, crawl compare)."""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import runfolder
from runner import Progress, last_json, run_json
from runner import run as run_program

PROGRAM = "crawl"  # whose table (--list-models, --list-modes) its runs come from

PYCRAWL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pycrawl")


def _load_table():
    """pycrawl/models.py (standard library only), under a name of its own:
    bench/ has a models.py too."""
    spec = importlib.util.spec_from_file_location("pycrawl_models", os.path.join(PYCRAWL, "models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pymodels = _load_table()

FIGURES = ["seconds", "efficiency", "overhead_p50_us", "overhead_p99_us", "cpu_ms_per_1k", "peak_rss_kib",
           "peak_threads"]
FIELDS = (["model", "counterpart", "example", "num", "concurrency", "delay_ms", "failed", "error"]
          + [f"py_{f}" for f in FIGURES] + [f"cpp_{f}" for f in FIGURES] + [f"ratio_{f}" for f in FIGURES])


def figures(r):
    """The figures a row shows, from a run's summary ({} for none)."""
    if not r:
        return {}
    cost, over = r.get("cost") or {}, r.get("overhead_us") or {}
    return {"seconds": r["seconds"], "efficiency": r["efficiency"], "overhead_p50_us": over.get("p50"),
            "overhead_p99_us": over.get("p99"), "cpu_ms_per_1k": cost.get("cpu_ms_per_1k"),
            "peak_rss_kib": cost.get("peak_rss_kib"), "peak_threads": cost.get("peak_threads")}


def label(model, flags):
    """The C++ run's name in the folder: the model, and its flags (coroutine-spawn-all)."""
    return "-".join([model] + [f.lstrip("-") for f in flags])


def num_for(m, s):
    return s["num"] if m.max_num is None else min(s["num"], m.max_num)


def run_cpp(ctx, s, m, got, out):
    """The counterpart of Python model `m`, once per (model, flags, N): its
    summary and its place in the stage's runs."""
    key = (m.cpp, tuple(m.cpp_flags), num_for(m, s))
    if key in out:
        return out[key]
    name = label(m.cpp, m.cpp_flags)
    argv = [ctx.crawl, "--model", m.cpp, *m.cpp_flags, "--url", ctx.url, "--num", str(key[2]),
            "--concurrency", str(s["concurrency"]), "--delay", str(s["delay_ms"]), "--seed", str(ctx.seed),
            "--name", f"python-{name}", "--timeline", ctx.file(runfolder.python_timeline_name(name)), "--json"]
    r, rc, err = run_json(argv, f"python: {name}")
    got.runs.append(r)
    if rc != 0:
        got.fail(f"{name} exited {rc}: {err.strip()}")
    out[key] = r, len(got.runs) - 1
    return out[key]


def run_pycrawl(ctx, model, num, conc, delay_ms, timeout_s, name=None, timeline=None):
    """One run of a Python model (pycrawl/crawl.py, in this interpreter): its
    summary (crawl summarize's) and "", or None and why there is none. A run
    past `timeout_s` is stopped; one whose requests failed keeps its summary
    and says so."""
    argv = [sys.executable, os.path.join(PYCRAWL, "crawl.py"), "--model", model, "--crawl", ctx.crawl,
            "--url", ctx.url, "--num", str(num), "--concurrency", str(conc), "--delay", str(delay_ms),
            "--seed", str(ctx.seed), "--json", *(["--name", name] if name else []),
            *(["--timeline", timeline] if timeline else [])]
    try:
        p = run_program(argv, f"python: {model}", check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout_s} s (stopped)"
    r = last_json(p.stdout)
    why = (p.stderr or "").strip().splitlines()
    if r is None:
        return None, f"exit {p.returncode}: {why[-1] if why else 'no summary'}"
    return r, (f"exit {p.returncode}: {why[-1]}" if p.returncode != 0 and why else "")


def run_python(ctx, s, m):
    """One Python model's run in this stage: its summary, or None and the reason."""
    return run_pycrawl(ctx, m.name, s["num"], s["concurrency"], s["delay_ms"], s["timeout_s"],
                       timeline=ctx.file(runfolder.python_timeline_name(m.name)))


def compare(ctx, cpp, py):
    """crawl compare: each of the Python run's figures over its counterpart's."""
    with tempfile.TemporaryDirectory(prefix="python-compare-") as d:
        paths = [os.path.join(d, "cpp.json"), os.path.join(d, "py.json")]
        for p, r in zip(paths, (cpp, py)):
            with open(p, "w") as f:
                json.dump(r, f)
        return json.loads(run_program([ctx.crawl, "compare", *paths], "crawl compare").stdout)


def row(m, s, cpp, py, ratios, error):
    out = {"model": m.name, "counterpart": label(m.cpp, m.cpp_flags), "example": m.example,
           "num": num_for(m, s), "concurrency": 1 if m.one_in_flight else s["concurrency"],
           "delay_ms": s["delay_ms"], "failed": py["failed"] if py else "", "error": error}
    for prefix, figs in (("py", figures(py)), ("cpp", figures(cpp)), ("ratio", ratios or {})):
        for f in FIGURES:
            v = figs.get(f)
            out[f"{prefix}_{f}"] = "" if v is None else v
    return out


def run(ctx, s, got):
    chosen = [m for m in pymodels.MODELS if m.name in s["models"]]  # in the table's order
    unknown = set(s["models"]) - set(pymodels.NAMES)
    if unknown:
        got.fail(f"no Python model {', '.join(sorted(unknown))} (pycrawl/models.py: {', '.join(pymodels.NAMES)})")
    progress = Progress("python", len(chosen))
    cpp_runs = {}
    got.extra["python"] = pymodels.versions()
    got.extra["python_models"] = pymodels.table_json()
    got.extra["pairs"] = pairs = []
    for k, m in enumerate(chosen, 1):
        cpp, cpp_at = run_cpp(ctx, s, m, got, cpp_runs)
        py, error = run_python(ctx, s, m)
        if py is not None:
            got.runs.append(py)
        if error:
            got.fail(f"{m.name}: {error}")
        ratios = compare(ctx, cpp, py)["ratios"] if py is not None else None
        # runs[cpp_run] and runs[python_run] (None: no summary) are the pair's.
        pairs.append({"python": m.name, "cpp": label(m.cpp, m.cpp_flags), "example": m.example,
                      "cpp_run": cpp_at, "python_run": len(got.runs) - 1 if py is not None else None,
                      "ratios": ratios, "error": error})
        got.rows.append(row(m, s, cpp, py, ratios, error))
        eff = f"{py['efficiency']:.3f}" if py and py.get("efficiency") is not None else "-"
        progress.step(k, f"{m.name}: efficiency {eff} against {label(m.cpp, m.cpp_flags)}'s "
                         f"{cpp['efficiency'] or 0:.3f}")
    progress.done()

#!/usr/bin/env python3
"""Writes DIR/report.html: the whole run in one page that opens from disk, with
no network, and can be zoomed. Drawn from the run folder alone (its stage
summaries and timelines, named by bench/runfolder.py), so `plots/report.py DIR`
redraws it from any results folder, with plotly.js inlined. Every figure in
its tables is the programs' own (--json); every setting it states is the one
the stage's summary holds.

One section a function (SECTIONS, in the stages' order): the run and its
stages; the crawl stage's table, each model's chronology, the requests in
flight and the overhead spectrum; then the sweep, scale, primes, tails and
load stages where the run has them; every raw file; the manifest. A stage the
run left out is named in the first section, not drawn empty.

The page's JavaScript is plots/report_prelude.js (catches every error) and
plots/report.js (the drawers), its style plots/report.css, all read at build
time. The page counts the charts it drew, the ones that have data, and every
JavaScript error into <pre id="report-status"> (scripts/check_report.py reads
it in headless Chromium).

plotly.js comes from Debian's python3-plotly (/usr/share/python3-plotly/plotly.js),
or from $TESTBED_PLOTLY_JS. Standard library only.

Usage: report.py DIR
"""
import argparse
import html
import json
import os
import sys
import urllib.parse

import testbed_plots as tp
from testbed_plots import runfolder

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import table  # noqa: E402  (bench/table.py: the same rows benchmark.sh prints)

HERE = os.path.dirname(os.path.abspath(__file__))
PLOTLY_PATHS = ["/usr/share/python3-plotly/plotly.js"]


def find_plotly():
    candidates = [os.environ.get("TESTBED_PLOTLY_JS", "")] + PLOTLY_PATHS
    try:  # a pip-installed plotly has its minified build inside
        import plotly  # noqa: F401
        candidates.append(os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js"))
    except ImportError:
        pass
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    raise SystemExit("report: plotly.js not found (install python3-plotly, or set TESTBED_PLOTLY_JS)")


def asset(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


def esc(value):
    """Any value as HTML text: a results folder may come from anyone (a colleague's
    run, a CI artifact), so nothing read from it lands in the page unescaped."""
    return html.escape(str(value))


def script_json(value):
    """JSON to inline in a <script>: no '<' (so no '</script>' or '<!--' can end
    or bend the block), no '>' or '&', and no line separators JavaScript reads
    as line ends."""
    text = json.dumps(value, separators=(",", ":"))
    for ch, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                     ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, code)
    return text


def file_link(name):
    """A relative link to a file of the folder: percent-encoded, so no name
    (javascript:..., //host/...) can make it point anywhere else."""
    return "./" + urllib.parse.quote(name, safe="")


def html_table(head, rows, cls="numbers"):
    """A table of text cells, every one escaped; head None: no header row."""
    th = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>" if head else ""
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}">{th}{body}</table>'


def listed(values):
    """A setting's value as text: a list as 'a, b, c'."""
    return ", ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in values) \
        if isinstance(values, list) else (f"{values:,}" if isinstance(values, int) else str(values))


def settings_of(summary):
    settings = summary.get("settings")
    return settings if isinstance(settings, dict) else {}


def stage_inputs(run, stage):
    """What a stage's section is drawn from: its summary, its settings, and its
    rows (None when the folder has no STAGE.csv)."""
    summary = run.summaries[stage]
    return summary, settings_of(summary), run.rows(runfolder.rows_name(stage))


def v(settings, key):
    """A stage's setting for the page's prose, as its summary holds it."""
    return listed(settings[key]) if isinstance(settings, dict) and key in settings else "?"


class Run:
    """What the page is drawn from: the folder, its stages' summaries, and what
    could not be read (named in the file list instead of stopping the page)."""

    def __init__(self, directory):
        self.dir, self.unreadable = directory, {}
        self.summaries = {}
        for stage in runfolder.STAGE_NAMES:
            summary = runfolder.read_summary(directory, stage, self.unreadable)
            if summary is not None:
                self.summaries[stage] = summary
        try:
            with open(runfolder.path(directory, runfolder.MANIFEST), encoding="utf-8") as f:
                self.manifest = json.load(f)
        except FileNotFoundError:
            self.manifest = {}
        except (OSError, ValueError) as e:
            self.unreadable[runfolder.MANIFEST] = str(e)
            self.manifest = {}

    def rows(self, name):
        """A CSV of the folder as dicts, None when it is missing or unreadable."""
        p = runfolder.path(self.dir, name)
        if not os.path.exists(p):
            return None
        try:
            return tp.read_rows(p)
        except (OSError, ValueError) as e:
            self.unreadable[name] = str(e)
            return None


class Page:
    def __init__(self):
        self.parts, self.charts, self.toc = [], [], []

    def section(self, anchor, title, text=""):
        self.toc.append((anchor, title))
        self.parts.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>')
        if text:
            self.parts.append(f"<p>{esc(text)}</p>")

    def raw(self, markup):
        self.parts.append(markup)

    def chart(self, kind, spec, height=360, wide=True):
        """A chart drawn in the page by the JavaScript function `kind` from `spec`."""
        cid = f"chart{len(self.charts)}"
        self.charts.append({"id": cid, "kind": kind, "spec": spec})
        cls = "chart" + (" wide" if wide else "")
        self.parts.append(f'<div class="{cls}" id="{cid}" style="height:{height}px"></div>')


def timeline_columns(rows):
    """A client timeline as compact columns, times relative to its first start
    (s), each request's latency (ms) with them."""
    rows = sorted(rows, key=lambda r: int(r["index"]))
    t0 = min((float(r["start"]) for r in rows), default=0.0)
    start = [round(float(r["start"]) - t0, 6) for r in rows]
    end = [round(float(r["end"]) - t0, 6) for r in rows]
    return {
        "t0": t0, "index": [int(r["index"]) for r in rows], "start": start, "end": end,
        "latency": [round((e - s) * 1000, 3) for s, e in zip(start, end)],
        "status": [int(r["status"]) for r in rows],
        "conn": [int(r.get("conn") or 0) for r in rows],
        "delay": [round(float(r["delay"]) * 1000, 3) if r.get("delay") else None for r in rows],
    }


# The resource strips: each panel's title, and the client's and the server's
# columns in it (connections: those the crawl opened so far, those the server
# holds open now).
CPU = ("cpu_user_pct", "cpu_system_pct")
STRIPS = [("CPU %", CPU, CPU), ("RSS MiB", ("rss_kib",), ("rss_kib",)), ("threads", ("threads",), ("threads",)),
          ("fds", ("fds",), ("fds",)), ("connections", ("connections_opened",), ("connections_open",))]
SERVER_COLOUR = "#888"


def strip_series(rows, columns, t_from, t1, t0):
    """One panel's points from resource rows (crawl/delayserver --resources)
    between t_from and t1 (Unix s), time from t0: the rows that have the cells
    (a read the sampler skipped to stay within its budget is empty). CPU is
    user and system together, as a percentage of one core."""
    xs, ys = [], []
    for r in rows:
        t = float(r["time"])
        if t < t_from or t > t1 or any(r.get(c, "") == "" for c in columns):
            continue
        value = sum(float(r[c]) for c in columns)  # CPU: user and system together
        xs.append(round(t - t0, 4))
        ys.append(round(value / 1024, 2) if columns == ("rss_kib",) else value)
    return xs, ys


def resource_strips(run, client, server, t0=None):
    """A strips chart's spec: the client's resource rows (file `client`) and
    the server's over the same span (the client's first row to its last), on
    one time axis from t0 (default: the client's first row); None when the
    client wrote none."""
    rows = run.rows(client)
    if not rows:
        return None
    first, t1 = float(rows[0]["time"]), float(rows[-1]["time"])
    t0 = first if t0 is None else t0
    server_rows = run.rows(server) or []
    panels = []
    for title, client_columns, server_columns in STRIPS:
        series = []
        for name, colour, source, columns in (("client", None, rows, client_columns),
                                              ("server", SERVER_COLOUR, server_rows, server_columns)):
            xs, ys = strip_series(source, columns, first, t1, t0)
            if xs:
                series.append({"name": name, "colour": colour, "x": xs, "y": ys})
        panels.append({"title": title, "series": series})
    return {"panels": panels, "xmax": round(t1 - t0, 4)}


def efficiency(run, spec=".3f"):
    return table.number(run.get("efficiency"), spec, "none: no answer")


# --- the run ---------------------------------------------------------------------

def section_run(page, run):
    """What ran: date and command, then each stage with the settings and seed
    its summary holds; a stage the run left out is named, not drawn."""
    page.section("settings", "The run")
    when = "; ".join(esc(run.manifest[k]) for k in ("date", "command") if run.manifest.get(k))
    if when:
        page.raw(f"<p>{when}.</p>")
    rows = []
    for stage, s in run.summaries.items():
        settings = "; ".join(f"{k} = {listed(value)}" for k, value in settings_of(s).items())
        failures = len(s.get("failures") or [])
        rows.append([stage, s.get("title", ""), settings, table.number(s.get("seed"), "d"), len(s["runs"]),
                     failures or ""])
    page.raw(html_table(["stage", "what", "settings", "seed", "runs", "failures"], rows, "stages"))
    left_out = [st for st in runfolder.STAGE_NAMES if st not in run.summaries]
    if left_out:
        page.raw(f"<p>Not in this run (benchmark.sh --stages): {esc(', '.join(left_out))}.</p>")


# --- the crawl stage -------------------------------------------------------------

def crawl_runs(run):
    """The crawl stage's runs that have a timeline: (summary, columns)."""
    found = []
    for s in run.summaries["crawl"]["runs"]:
        rows = run.rows(runfolder.client_timeline_name(s["model"]))
        if rows:
            found.append((s, timeline_columns(rows)))
    return found


def section_crawl(page, run):
    summary = run.summaries["crawl"]
    s = settings_of(summary)
    colour = tp.model_colours(summary)
    page.section("comparison", "Every model side by side",
                 f"{len(summary['runs'])} models, N = {v(s, 'num')} URLs each, delay {v(s, 'delay_ms')} ms, C = "
                 f"{v(s, 'concurrency')} for the concurrent models. " + table.CRAWL_NOTE + ".")
    page.raw(html_table(*table.crawl_rows(summary["runs"])))
    timelines = crawl_runs(run)
    if not timelines:
        return
    page.section("chronologies", "Each request's life",
                 "Every request a line from when the crawler sent it to when the answer came, request "
                 "number up, time since the model's first request across (the book's Figures 8-2 to "
                 "8-6). Drag to zoom, double-click to reset; hover a line's ends for the request. Under "
                 "each, on the same time axis, what the crawl (in its colour) and the server (grey) spent "
                 "meanwhile, a row every 10 ms: CPU (% of one core), resident memory (MiB), threads, open "
                 "descriptors (fds: the sockets, and a few files; counted less often where counting them is dear), "
                 "and connections: those the crawl has opened so far, those the server holds open now.")
    for r, columns in timelines:
        title = (f"{r['model']}: {r['seconds']:.3f} s, ideal {r['ideal_seconds']:.3f} s "
                 f"(efficiency {efficiency(r)})")
        strips = resource_strips(run, runfolder.resources_name("crawl", r["model"]),
                                 runfolder.server_resources_name("crawl"), t0=columns["t0"])
        # One time axis for the chronology and its strips.
        xmax = max([*columns["end"], strips["xmax"] if strips else 0]) * 1.01 or None
        page.chart("chronology", {"title": title, "colour": colour[r["model"]], "failed": tp.FAILED,
                                  "runs": [columns], "xmax": xmax}, height=300)
        if strips:
            page.chart("strips", {**strips, "colour": colour[r["model"]], "xmax": xmax}, height=400)
    section_inflight(page, summary, timelines, colour)
    section_overhead(page, summary, colour)


def section_inflight(page, summary, timelines, colour):
    """The concurrent models on one time axis with their bound C; a model that
    keeps one request in flight (serial) on its own, as crawl-comparison.png
    draws it: on the shared axis its long run would flatten the others."""
    alone = {m["name"] for m in summary.get("models") or [] if m["one_in_flight"]}

    def series(r, columns):
        xs, ys = tp.in_flight(list(zip(columns["start"], columns["end"])))
        return {"name": r["model"], "colour": colour[r["model"]], "x": xs, "y": ys}

    shared = [series(r, c) for r, c in timelines if r["model"] not in alone]
    apart = [series(r, c) for r, c in timelines if r["model"] in alone]
    page.section("inflight", "Requests in flight",
                 "How quickly each model reaches its bound and how steadily it holds it: the concurrent "
                 f"models together, against their bound C = {v(summary['settings'], 'concurrency')} (dashed)"
                 + (f"; {', '.join(x['name'] for x in apart)} on its own time scale below (one request at a "
                    "time, for far longer)." if apart else "."))
    if shared:
        page.chart("inflight", {"title": "the concurrent models", "runs": shared,
                                "bound": settings_of(summary).get("concurrency")}, height=380)
    for one in apart:
        page.chart("inflight", {"title": f"{one['name']}: its own time scale", "runs": [one], "bound": 1},
                   height=200)


def section_overhead(page, summary, colour):
    runs = [r for r in summary["runs"] if r.get("overhead_us_spectrum")]
    if not runs:
        return
    page.section("overhead", "Where each model loses time",
                 "Time beyond the server's delay by percentile of requests (log axes, the x axis "
                 "stretching towards the slowest), from each model's overhead_us_spectrum.")
    spec = {"runs": [], "tickvals": [x for x, _ in tp.SPECTRUM_TICKS], "ticktext": [t for _, t in tp.SPECTRUM_TICKS]}
    for r in runs:
        xs, ys, _ = tp.spectrum_axis(r["overhead_us_spectrum"])
        spec["runs"].append({"name": r["model"], "colour": colour.get(r["model"], "#333"), "x": xs, "y": ys,
                             "percent": [f"{q * 100:.2f}%" for q, _ in r["overhead_us_spectrum"]]})
    page.chart("spectrum", spec, height=420)


# --- the sweep and scale stages ----------------------------------------------------

def section_sweep(page, run):
    _, s, rows = stage_inputs(run, "sweep")
    page.section("sweep", "The concurrency sweep",
                 f"Time for {v(s, 'model')} to fetch N = {v(s, 'num')} URLs against concurrency C = "
                 f"{v(s, 'concurrency')}, one line per delay ({v(s, 'delays_ms')} ms; Figure 8-3); "
                 f"dashed: the ideal; dotted: the book's own Python ({v(s, 'python_models')}) at "
                 f"{v(s, 'python_delays_ms')} ms, on the same URLs.")
    if not rows:
        return
    series = []
    for k, d in enumerate(dict.fromkeys(r["delay_ms"] for r in rows)):
        c = tp.PALETTE[k % len(tp.PALETTE)]
        for model in dict.fromkeys(r["model"] for r in rows):
            pts = [r for r in rows if r["delay_ms"] == d and r["model"] == model and r["seconds"]]
            if not pts:
                continue
            x = [int(r["concurrency"]) for r in pts]
            python = model != s.get("model")
            series.append({"name": f"{model} {d} ms" if python else f"{d} ms", "colour": c,
                           "dash": "dot" if python else "solid", "x": x, "y": [float(r["seconds"]) for r in pts]})
            if not python:
                series.append({"name": f"{d} ms ideal", "colour": c, "dash": "dash", "x": x,
                               "y": [float(r["ideal_seconds"]) for r in pts]})
    page.chart("lines", {"series": series, "xtitle": "concurrency", "ytitle": "seconds", "xlog": True,
                         "ylog": True}, height=400)


def section_scale(page, run):
    summary, s, rows = stage_inputs(run, "scale")
    page.section("scale", "How each model scales",
                 f"Every concurrent model at C = {v(s, 'concurrency')} (N = {v(s, 'multiple')}C, "
                 f"{v(s, 'delay_ms')} ms): efficiency, CPU per 1k requests, peak memory, and the memory the run "
                 "added per slot of C (peak less before, over C: what a waiting request costs); dotted, the book's own "
                 f"Python models up to C = {v(s, 'python_max_concurrency')}, each in its C++ counterpart's "
                 "colour. A point a model could not run is left out (its reason is in scale.csv).")
    if not rows:
        return
    styles = tp.model_styles(summary)
    for field, label, log in [("efficiency", "efficiency (ideal / measured)", False),
                              ("cpu_ms_per_1k", "CPU ms per 1k requests", True),
                              ("peak_rss_kib", "peak RSS (KiB)", True),
                              ("rss_kib_per_slot", "memory the run added per slot (KiB): a waiting request's cost", True)]:
        series = []
        for m in dict.fromkeys(r["model"] for r in rows):
            pts = [(int(r["concurrency"]), float(r[field])) for r in rows
                   if r["model"] == m and not r["error"] and r.get(field)]
            colour, dashed, _ = styles.get(m, ("#333", False, "o"))
            series.append({"name": m, "colour": colour, "dash": "dot" if dashed else "solid",
                           "x": [p[0] for p in pts], "y": [p[1] for p in pts]})
        page.chart("lines", {"series": series, "xtitle": "concurrency C", "ytitle": label, "xlog": True,
                             "ylog": log}, height=320, wide=False)
    section_connect_storm(page, run, summary)


def section_connect_storm(page, run, summary):
    """The runs at the stage's largest C over time: how each model opens its
    C connections (and threads) and what that costs it and the server."""
    top = max(settings_of(summary).get("concurrency") or [0])
    colour = tp.model_colours(summary)
    charts = []
    for r in summary["runs"]:
        if r.get("concurrency") != top or "seconds" not in r:
            continue
        strips = resource_strips(run, runfolder.resources_name("scale", f"{r['model']}-C{top}"),
                                 runfolder.server_resources_name("scale"))
        if strips:
            title = (f"{r['model']} at C = {top:,}: {r['seconds']:.3f} s, peak {r['cost']['peak_threads']:,} threads, "
                     f"{r['cost']['connections_opened']:,} connections opened")
            charts.append({**strips, "title": title, "colour": colour.get(r["model"], "#333")})
    if not charts:
        return
    page.section("connect-storm", f"The connect storm at C = {top:,}",
                 f"Each concurrent model's run at C = {top:,} over time, from its sampler's first row: CPU, memory, "
                 "threads and open descriptors of the crawl (in its colour) and of the server (grey), a row every "
                 "10 ms, and the connections: those the crawl has opened so far (its slope is the connect storm), "
                 "those the server holds open. A read the sampler skipped to stay within its share of a core "
                 "leaves a flat step: counting 10,000 descriptors takes milliseconds, so fds is counted seldom "
                 "here, and at thousands of threads so is CPU.")
    for spec in charts:
        page.chart("strips", spec, height=400)


# --- the primes stages -------------------------------------------------------------

def primes_chart(page, run, stage, mode, label):
    rows = run.rows(runfolder.primes_timeline_name(stage, mode))
    if not rows:
        return
    t0 = min((float(r["start"]) for r in rows), default=0.0)
    saves = [r for r in rows if r["kind"] == "save"]
    computes = [r for r in rows if r["kind"] == "compute"]
    rel = lambda rs, key: [round(float(r[key]) - t0, 6) for r in rs]  # noqa: E731
    page.chart("primes", {
        "title": f"{label}: {len(saves)} saves", "save_colour": tp.SAVE, "compute_colour": tp.COMPUTE,
        "save_start": rel(saves, "start"), "save_end": rel(saves, "end"), "save_value": [r["value"] for r in saves],
        "save_ms": [round((float(r["end"]) - float(r["start"])) * 1000, 2) for r in saves],
        "compute_start": rel(computes, "start"), "compute_end": rel(computes, "end")}, height=300, wide=False)


def section_primes(page, run):
    summary = run.summaries["primes"]
    page.section("primes", "Saving primes to a slow database",
                 f"The savers that compute while they save, at max_number = "
                 f"{v(summary['settings'], 'max_number')}: each save a line from its request to its answer "
                 "(save number up), the compute spans on the line below zero.")
    page.raw(html_table(*table.primes_rows(summary["runs"])))
    for r in summary["runs"]:
        primes_chart(page, run, "primes", r["mode"], r["mode"])


def section_primes_sweep(page, run):
    _, s, rows = stage_inputs(run, "primes-sweep")
    page.section("primes-sweep", "Every prime mode over max_number",
                 f"Time against numbers probed, max_number = 2^{v(s, 'min_exp')} .. 2^{v(s, 'max_exp')} (a mode "
                 f"that saves one prime at a time to 2^{v(s, 'serial_max_exp')}; {v(s, 'extend_modes')} to "
                 f"2^{v(s, 'extend_exp')}), per mode (Figure 8-7), each with its bound dashed (compute plus the "
                 "saves that must wait in turn).")
    if not rows:
        return
    series = []
    pmodes = list(dict.fromkeys(r["mode"] for r in rows))  # primes --list-modes' order
    for mode, c in tp.colours(pmodes).items():
        mine = sorted((int(r["max_number"]), r) for r in rows if r["mode"] == mode)
        series.append({"name": mode, "colour": c, "x": [n for n, _ in mine],
                       "y": [max(float(r["seconds"]), 1e-6) for _, r in mine]})
        bound = [(n, float(r["bound_seconds"])) for n, r in mine if r.get("bound_seconds")]
        if bound:  # as primes --json derives it
            series.append({"name": f"{mode} bound", "colour": c, "dash": "dash",
                           "x": [b[0] for b in bound], "y": [max(b[1], 1e-6) for b in bound]})
    page.chart("lines", {"series": series, "xtitle": "numbers probed (max_number)",
                         "ytitle": "seconds", "xlog": True, "ylog": True}, height=400)


def section_tails_primes(page, run):
    summary = run.summaries["tails-primes"]
    s = settings_of(summary)
    page.section("tails-primes", "Prime savers against a long-tailed database",
                 f"The same savers at max_number = {v(s, 'max_number')}, each save's latency drawn from "
                 f"{v(s, 'db_latency_dist')} (delayserver --db-latency-dist).")
    page.raw(html_table(*table.primes_rows(summary["runs"])))
    for r in summary["runs"]:
        primes_chart(page, run, "tails-primes", r["mode"], f"{r['mode']}, long-tailed saves")


# --- the tails and load stages -----------------------------------------------------

def section_tails(page, run):
    summary = run.summaries["tails"]
    s = settings_of(summary)
    page.section("tails", "Delays with long tails",
                 f"The same {v(s, 'delay_dist')} delays (median {v(s, 'delay_ms')} ms) for every run, N = "
                 f"{v(s, 'num')}, C = {v(s, 'concurrency')}: each model's semaphore, and the batched pattern (fire "
                 "C, wait for all C). Dashed: the ideal; dotted: the batches' floor.")
    page.raw(html_table(*table.crawl_rows(summary["runs"])))
    colour = tp.model_colours(summary)
    for r in summary["runs"]:
        rows = run.rows(runfolder.tails_timeline_name(r["model"], r["batched"]))
        if not rows:
            continue
        title = (f"{r['model']}{' --batched' if r['batched'] else ''}: {r['seconds']:.2f} s, "
                 f"ideal {r['ideal_seconds']:.2f} s ({efficiency(r, '.2f')})")
        marks = [{"x": r["ideal_seconds"], "dash": "dash"}]
        if r.get("batched_ideal_seconds"):
            marks.append({"x": r["batched_ideal_seconds"], "dash": "dot"})
        page.chart("chronology", {"title": title, "colour": colour.get(r["model"], "#333"), "failed": tp.FAILED,
                                  "runs": [timeline_columns(rows)], "marks": marks}, height=260, wide=False)


def section_load(page, run):
    summary = run.summaries["load"]
    s = settings_of(summary)
    load = summary["runs"]
    page.section("load", "Requests that arrive at a rate",
                 f"Every concurrent model in an open loop ({v(s, 'arrivals')} arrivals for {v(s, 'duration_s')} s at "
                 f"each of {v(s, 'rates')} requests/s) against {v(s, 'delay_ms')} ms with C = "
                 f"{v(s, 'concurrency')}: latency from when each request was due (p99 solid, p50 dotted) against "
                 "the offered rate, and what the server held against Little's law.")
    if not load:
        return
    colour = tp.model_colours(summary)
    lat, held = [], []
    for m in dict.fromkeys(r["model"] for r in load):
        mine = sorted((r for r in load if r["model"] == m), key=lambda r: r["open_loop"]["rate_per_s"])
        x = [r["open_loop"]["rate_per_s"] for r in mine]
        c = colour.get(m, "#333")
        due = [r["open_loop"]["latency_from_due_ms"] or {} for r in mine]
        lat.append({"name": f"{m} p99", "colour": c, "x": x, "y": [d.get("p99") for d in due]})
        lat.append({"name": f"{m} p50", "colour": c, "dash": "dot", "x": x, "y": [d.get("p50") for d in due]})
        held.append({"name": m, "colour": c, "x": x, "y": [r["open_loop"]["server_mean_in_flight"] for r in mine]})
    rates = sorted({r["open_loop"]["rate_per_s"] for r in load})
    little = {r["open_loop"]["rate_per_s"]: r["open_loop"]["littles_law_in_flight"] for r in load}
    held.append({"name": "Little's law: rate x delay", "colour": "#000", "x": rates, "y": [little[r] for r in rates]})
    page.chart("lines", {"series": lat, "xtitle": "offered rate (per second)", "ytitle": "latency from due (ms)",
                         "ylog": True, "vline": load[0]["open_loop"].get("capacity_per_s")}, height=380, wide=False)
    page.chart("lines", {"series": held, "xtitle": "offered rate (per second)",
                         "ytitle": "requests the server held, on average", "hline": s.get("concurrency")},
               height=380, wide=False)


# --- the spike stage --------------------------------------------------------------

def section_spike(page, run):
    summary = run.summaries["spike"]
    s = settings_of(summary)
    page.section("spike", "A spike past capacity",
                 f"Every concurrent model in an open loop at {v(s, 'base')} requests/s with a spike to "
                 f"{v(s, 'peak')}/s from {v(s, 'at_s')} s for {v(s, 'length_s')} s (C = {v(s, 'concurrency')}, "
                 f"{v(s, 'delay_ms')} ms: capacity C / delay), once for each work on an answer ({v(s, 'work')}). "
                 "Per 100 ms window of due times: the p99 latency from due, and the requests in flight; the dotted "
                 "lines mark the spike. " + table.SPIKE_NOTE + ".")
    runs = summary["runs"]
    if not runs:
        return
    page.raw(html_table(*table.spike_rows(summary)))
    colour = tp.model_colours(summary)
    for work in dict.fromkeys(r.get("work_spec") for r in runs):
        mine = [r for r in runs if r.get("work_spec") == work and (r.get("open_loop") or {}).get("over_time")]
        if not mine:
            continue
        o = mine[0]["open_loop"]
        marks = [float(s.get("at_s", 0)), o.get("spike_end_s")]
        for field, label, log in [("p99_from_due_ms", "p99 latency from due (ms)", True),
                                  ("in_flight", "requests in flight", False)]:
            series = [{"name": r["model"], "colour": colour.get(r["model"], "#333"),
                       "x": [w["t"] for w in r["open_loop"]["over_time"]],
                       "y": [w[field] for w in r["open_loop"]["over_time"]]} for r in mine]
            page.chart("lines", {"series": series, "title": f"work {work}", "xtitle": "time from the first due (s)",
                                 "ytitle": label, "ylog": log, "vlines": [m for m in marks if m is not None],
                                 "hline": s.get("concurrency") if field == "in_flight" else None,
                                 "markers": False}, height=340, wide=False)


# --- the python stage -------------------------------------------------------------

def python_chronologies(run, pairs):
    """Each pair's two runs on one chart (C++ below, Python above) and the
    concurrent pairs' common time axis: (specs, xmax)."""
    charts, longest = [], 0.0
    for pair in pairs:
        cpp, py = table.pair_runs(run.summaries["python"], pair)
        stacked, shown, offset = [], [], 0
        for label, summary, colour in ((pair["cpp"], cpp, tp.PALETTE[0]), (pair["python"], py, tp.PALETTE[1])):
            rows = run.rows(runfolder.python_timeline_name(label)) if summary else None
            if not rows:
                continue
            columns = timeline_columns(rows)
            columns.update(colour=colour, offset=offset, name=label)
            stacked.append(columns)
            shown.append(summary)
            if (summary.get("concurrency") or 1) > 1:
                longest = max(longest, max(columns["end"], default=0.0))
            offset += len(rows) + len(rows) // 10
        if stacked:
            eff = " vs ".join(f"{c['name']} {efficiency(r, '.2f')}" for c, r in zip(stacked, shown))
            charts.append(({"title": f"{pair['python']} beside {pair['cpp']}: efficiency {eff}",
                            "colour": tp.PALETTE[0], "failed": tp.FAILED, "runs": stacked,
                            "ylabels": {"at": [s["offset"] + len(s["index"]) / 2 for s in stacked],
                                        "text": ["C++" if s["name"] == pair["cpp"] else "Python"
                                                 for s in stacked]}}, (cpp.get("concurrency") or 1) > 1))
    return charts, longest


def section_python(page, run):
    summary, s, _ = stage_inputs(run, "python")
    versions = summary.get("python") or {}
    libs = ", ".join(f"{k} {(d or {}).get('version') or 'missing'}"
                     for k, d in (versions.get("libraries") or {}).items())
    page.section("python", "C++ and Python",
                 f"The book's own models, written in Python with Debian's libraries (Python "
                 f"{versions.get('python', '?')}: {libs}), each beside the C++ model it mirrors, on the same "
                 f"server, fetching the same URLs (so the same delays): N = {v(s, 'num')} (the serial pair "
                 f"fewer, as pycrawl/models.py says), C = {v(s, 'concurrency')}, {v(s, 'delay_ms')} ms. The "
                 "Python run's clock leaves out the interpreter's start and the imports, as the book's "
                 "time.time() calls do. Every figure is crawl's (crawl summarize on the Python timeline, crawl "
                 "compare for the ratios): each cell is Python / C++ (the ratio). Below, each pair's requests "
                 "on one chart, C++ below and Python above; the concurrent pairs share one time axis.")
    page.raw(html_table(*table.python_rows(summary)))
    charts, longest = python_chronologies(run, table.pairs_of(summary))
    for spec, concurrent in charts:
        if concurrent and longest > 0:
            spec["xmax"] = round(longest * 1.05, 6)
        page.chart("chronology", spec, height=300, wide=False)


# --- the work and connections stages -------------------------------------------------

def section_work(page, run):
    summary, s, rows = stage_inputs(run, "work")
    page.section("work", "CPU work on every answer",
                 f"Every concurrent model doing {v(s, 'work_us')} µs of CPU work on each answer (crawl --work "
                 f"spin), N = {v(s, 'num')}, C = {v(s, 'concurrency')}, {v(s, 'delay_ms')} ms; the event-loop "
                 f"models on --loops {v(s, 'loops')} too (dotted). With no work every model keeps up with the "
                 "delay. With work, a model that does it on one event loop does every answer's work in turn, "
                 "so its run cannot be shorter than N times the work (the grey line), while the threads model "
                 "spreads it over the cores; the efficiency (the ideal is the larger of the delays' and the "
                 "work's bound) says how close each comes to what the threads it can use allow.")
    if not rows:
        return
    colour = tp.model_colours(summary)
    secs, effs = [], []
    for model, loops in dict.fromkeys((r["model"], int(r["loops"])) for r in rows):
        mine = sorted((int(r["work_us"]), r) for r in rows if r["model"] == model and int(r["loops"]) == loops)
        name = model + (f" --loops {loops}" if loops > 1 else "")
        x = [w / 1000 for w, _ in mine]
        dash = "solid" if loops == 1 else "dot"
        secs.append({"name": name, "colour": colour.get(model, "#333"), "dash": dash, "x": x,
                     "y": [float(r["seconds"]) for _, r in mine]})
        effs.append({"name": name, "colour": colour.get(model, "#333"), "dash": dash, "x": x,
                     "y": [float(r["efficiency"]) if r["efficiency"] else None for _, r in mine]})
    works = sorted({int(r["work_us"]) for r in rows})
    one_loop = next((r for r in rows if int(r["loops"]) == 1 and r["work_threads"] == "1"), None)
    if one_loop:  # N x work: what one thread needs for the work alone
        secs.append({"name": "the work on one thread", "colour": "#888", "dash": "dash", "x": [w / 1000 for w in works],
                     "y": [int(one_loop["num"]) * w / 1e6 for w in works]})
    page.chart("lines", {"series": secs, "xtitle": "CPU work on each answer (ms)", "ytitle": "seconds"},
               height=380, wide=False)
    page.chart("lines", {"series": effs, "xtitle": "CPU work on each answer (ms)",
                         "ytitle": "efficiency (ideal / measured)"}, height=380, wide=False)


def section_stealing(page, run):
    summary, s, rows = stage_inputs(run, "stealing")
    page.section("stealing", "Uneven work: static shards against a pool that shares it",
                 "CPU work on each answer drawn from a distribution (crawl --work "
                 f"{'; '.join(w for w in s.get('work') or [] if w != 'none') or '?'}: the same work on the same "
                 f"request in every run), N = {v(s, 'num')}, C = {v(s, 'concurrency')}, "
                 f"{v(s, 'delay_ms')} ms, on one event loop of {v(s, 'loop_model')}, on --loops "
                 f"{v(s, 'lanes')} (static shards: the URLs dealt out up front, a loop a thread), and on each "
                 f"pool model on as many --threads (tasks over a pool of OS threads, any thread running any "
                 "ready task), each with no work too. A shard's heavy answers wait on its own loop while "
                 "another loop may idle; the pool's free thread takes them. " + table.STEALING_NOTE + ".")
    runs = summary["runs"]
    if not runs:
        return
    page.raw(html_table(*table.stealing_rows(summary)))
    if not rows:
        return
    colour = tp.model_colours(summary)
    name = lambda r: f"{r['model']}<br>--{'threads' if r['threads'] else 'loops'} {r['threads'] or r['loops']}"  # noqa: E731
    names = list(dict.fromkeys(name(r) for r in rows))
    for field, label, scale, log in [("efficiency", "efficiency (ideal / measured)", 1, False),
                                     ("overhead_p99_us", "overhead p99 (ms)", 1000, True),
                                     ("cpu_ms_per_1k", "CPU ms per 1k requests", 1, True)]:
        series = []
        for work in dict.fromkeys(r["work"] for r in rows):
            by = {name(r): r for r in rows if r["work"] == work}
            pts = [by.get(n) for n in names]
            series.append({"name": "no work" if work == "none" else f"work {work}",
                           "colour": "#bbb" if work == "none" else colour.get(rows[0]["model"], "#333"),
                           "x": names, "y": [float(p[field]) / scale if p and p[field] else None for p in pts]})
        page.chart("lines", {"series": series, "xtitle": "design", "ytitle": label, "ylog": log},
                   height=340, wide=False)


def section_connections(page, run):
    summary, s, rows = stage_inputs(run, "connections")
    page.section("connections", "What a connection costs",
                 f"Every concurrent model under each connection policy ({v(s, 'policies')}: crawl --connection) "
                 f"at C = {v(s, 'concurrency')}, N = {v(s, 'multiple')}C, {v(s, 'delay_ms')} ms. Keep-alive opens a "
                 "connection a slot; close opens one for every request, and each connect is work the model's "
                 "loop or thread does before the request can go. The black points are the machine's floor: "
                 "bare sockets (connect-floor) opening as many fresh connections, C at a time.")
    if not rows:
        return
    colour = tp.model_colours(summary)
    policies = s.get("policies") or []
    for conc in s.get("concurrency") or []:
        mine = [r for r in rows if r["concurrency"] == str(conc)]
        eff, con = [], []
        for model in dict.fromkeys(r["model"] for r in mine):
            by = {r["policy"]: r for r in mine if r["model"] == model}
            pts = [by.get(p) for p in policies]
            c = "#000" if model == "connect-floor" else colour.get(model, "#333")
            eff.append({"name": model, "colour": c, "x": policies,
                        "y": [float(r["efficiency"]) if r and r["efficiency"] else None for r in pts]})
            if model != "connect-floor":
                con.append({"name": f"{model} p99", "colour": c, "dash": "dot", "x": policies,
                            "y": [float(r["connect_p99_us"]) / 1000 if r and r["connect_p99_us"] else None
                                  for r in pts]})
                con.append({"name": f"{model} p50", "colour": c, "x": policies,
                            "y": [float(r["connect_p50_us"]) / 1000 if r and r["connect_p50_us"] else None
                                  for r in pts]})
        page.chart("lines", {"series": eff, "xtitle": f"connection policy, C = {conc}",
                             "ytitle": "efficiency (ideal / measured)"}, height=340, wide=False)
        page.chart("lines", {"series": con, "xtitle": f"connection policy, C = {conc}",
                             "ytitle": "connect time (ms)", "ylog": True}, height=340, wide=False)


def section_tls(page, run):
    summary, s, rows = stage_inputs(run, "tls")
    page.section("tls", "What a TLS handshake costs",
                 f"Every concurrent model over TLS against a delayserver --tls (keys: {v(s, 'keys')}) at "
                 f"C = {v(s, 'concurrency')}, N = {v(s, 'multiple')}C, {v(s, 'delay_ms')} ms, in each variant "
                 f"({v(s, 'variants')}): keep-alive does a handshake a slot; close-resume opens a connection for "
                 "every request and resumes the session the server gave before; close-full makes every handshake "
                 "a full one; the plain ones are the same crawls without TLS. A handshake is CPU work on both "
                 "sides, done where the model does its work: on its one event loop, or spread over its threads.")
    page.raw(html_table(*table.tls_rows(summary)))
    page.raw(f"<p>{esc(table.TLS_NOTE)}</p>")
    if not rows:
        return
    colour = tp.model_colours(summary)
    variants = s.get("variants") or []
    tls_variants = [x for x in variants if not str(x).startswith("plain")]
    for key in s.get("keys") or []:
        for conc in s.get("concurrency") or []:
            mine = [r for r in rows if r["concurrency"] == str(conc) and r["key"] in (key, "none")]
            cpu, hs = [], []
            for model in dict.fromkeys(r["model"] for r in mine):
                by = {r["variant"]: r for r in mine if r["model"] == model}
                c = colour.get(model, "#333")
                cpu.append({"name": model, "colour": c, "x": variants,
                            "y": [float(by[x]["cpu_ms_per_1k"]) if x in by and by[x]["cpu_ms_per_1k"] else None
                                  for x in variants]})
                for q, dash in (("p99", "dot"), ("p50", "solid")):
                    hs.append({"name": f"{model} {q}", "colour": c, "dash": dash, "x": tls_variants,
                               "y": [float(by[x][f"tls_{q}_us"]) / 1000 if x in by and by[x][f"tls_{q}_us"] else None
                                     for x in tls_variants]})
            page.chart("lines", {"series": cpu, "xtitle": f"{key}, C = {conc}", "ytitle": "CPU ms per 1k requests"},
                       height=340, wide=False)
            page.chart("lines", {"series": hs, "xtitle": f"{key}, C = {conc}", "ytitle": "handshake (ms)",
                                 "ylog": True}, height=340, wide=False)


# --- the folder and the manifest ---------------------------------------------------

def folder_files(directory):
    """The folder's file names, as the file system has them (bytes that are not
    UTF-8 kept as surrogate escapes), report.html aside."""
    return sorted(f for f in os.listdir(directory) if f != runfolder.REPORT)


def file_item(run, name):
    """One file of the folder in the list: a link and its size; a name that is
    not text, a dangling link, or a file that cannot be read is named, not linked."""
    shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    try:
        size = f'{os.path.getsize(os.path.join(run.dir, name)) / 1024:.0f} KiB'
    except OSError as e:
        return f'<li>{esc(shown)} <span class="size">(cannot be read: {esc(e.strerror or e)})</span></li>'
    if shown != name:
        return f'<li>{esc(shown)} <span class="size">{size} (its name is not UTF-8: not linked)</span></li>'
    why = run.unreadable.get(name)
    note = f" (not drawn: {esc(why)})" if why else ""
    return f'<li><a href="{file_link(name)}">{esc(name)}</a> <span class="size">{size}{note}</span></li>'


def section_files(page, run):
    page.section("files", "Every file of the run")
    page.raw('<ul class="files">' + "".join(file_item(run, f) for f in folder_files(run.dir)) + "</ul>")


def section_manifest(page, run):
    """manifest.json as tables: its facts, each stage's seeds, the programs."""
    page.section("manifest", "Manifest")
    m = run.manifest
    if not m:
        page.raw("<p>This run has no manifest.json.</p>")
        return
    facts = [[k, v if isinstance(v, str) else json.dumps(v)] for k, v in m.items() if k not in ("stages", "programs")]
    page.raw(html_table(None, facts, "manifest"))
    stages = [s for s in m.get("stages") or [] if isinstance(s, dict)]
    if stages:
        page.raw("<h3>Seeds</h3>" + html_table(
            ["stage", "seed it gave", "server seed", "seeds its runs report", "runs"],
            [[s.get("stage"), s.get("seed", "-"), s.get("server_seed", "-"),
              ", ".join(map(str, s.get("run_seeds") or [])) or s.get("unreadable", "-"), s.get("runs", "-")]
             for s in stages],
            "manifest"))
    programs = m.get("programs") or {}
    if isinstance(programs, dict) and programs:
        page.raw("<h3>Programs</h3>" + html_table(
            ["program", "version", "built with"],
            [[p, (v or {}).get("version", ""), (v or {}).get("built_with", "")] for p, v in programs.items()
             if isinstance(v, dict)], "manifest"))
    page.raw(f'<p><a href="{file_link(runfolder.MANIFEST)}">{runfolder.MANIFEST}</a></p>')


# Every section in the page's order: the stage whose summary it needs (None:
# always drawn) and its function. The stage sections follow the stages' order.
SECTIONS = [(None, section_run), ("crawl", section_crawl), ("python", section_python), ("sweep", section_sweep),
            ("scale", section_scale), ("primes", section_primes), ("primes-sweep", section_primes_sweep), ("tails", section_tails),
            ("tails-primes", section_tails_primes), ("work", section_work), ("stealing", section_stealing),
            ("connections", section_connections),
            ("tls", section_tls), ("load", section_load), ("spike", section_spike), (None, section_files),
            (None, section_manifest)]
assert [s for s, _ in SECTIONS if s] == list(runfolder.STAGE_NAMES), "a section for every stage, in order"


def build(directory):
    run = Run(directory)
    page = Page()
    for stage, section in SECTIONS:
        if stage is None or stage in run.summaries:
            section(page, run)
    return page


def render(page, plotly_js, title):
    toc = " ".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in page.toc)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{asset('report.css')}</style>"
            f"<script>{asset('report_prelude.js')}</script>"
            f"<script>{plotly_js}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><nav>{toc}</nav>"
            f'<div class="charts">{"".join(page.parts)}</div>'
            '<pre id="report-status" hidden></pre>'
            f"<script>var CHARTS={script_json(page.charts)};\n{asset('report.js')}</script></body></html>")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a benchmark.sh results folder")
    args = ap.parse_args()
    if not os.path.isdir(args.dir):
        print(f"report: {args.dir} is not a folder", file=sys.stderr)
        return 2
    with open(find_plotly(), encoding="utf-8") as f:
        plotly_js = f.read().replace("</script", "<\\/script")
    page = build(args.dir)
    out = runfolder.path(args.dir, runfolder.REPORT)
    text = render(page, plotly_js, f"Concurrency testbed: {os.path.basename(os.path.abspath(args.dir))}")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    print(f"report: {out} ({len(page.charts)} charts, {os.path.getsize(out) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

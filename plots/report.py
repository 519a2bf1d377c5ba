#!/usr/bin/env python3
"""Writes DIR/report.html: the whole run in one page that opens from disk, with
no network, and can be zoomed. Drawn from the run's CSV and JSON files alone
(so `plots/report.py DIR` redraws it from any results folder), with plotly.js
inlined. Every figure in its tables is the programs' own (--json).

In the order a reader of the chapter meets them: the settings and the
comparison table; each model's chronology (WebGL, a hover per request); the
requests in flight; the overhead spectrum; the scale, sweep, tails and load
stages where the run has them; the primes call graphs and Figure 8-7; every raw
file; the manifest (manifest.json).

The page checks itself: it counts the charts it drew, the ones that have data,
and every JavaScript error, into <pre id="report-status"> (scripts/check-report.sh
reads it in headless Chromium).

plotly.js comes from Debian's python3-plotly (/usr/share/python3-plotly/plotly.js),
or from $TESTBED_PLOTLY_JS. Standard library only.

Usage: report.py DIR
"""
import argparse
import csv
import html
import json
import os
import sys
import urllib.parse

from testbed_plots import PALETTE, colours, in_flight

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


# What could not be read, named in the page's file list instead of stopping it.
UNREADABLE = {}


def read_json(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        UNREADABLE[name] = str(e)
        return None


def read_csv(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, ValueError, csv.Error) as e:
        UNREADABLE[name] = str(e)
        return None


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


def timeline_columns(rows):
    """A client timeline as compact columns, times relative to its first start (s)."""
    rows = sorted(rows, key=lambda r: int(r["index"]))
    t0 = min((float(r["start"]) for r in rows), default=0.0)
    return {
        "index": [int(r["index"]) for r in rows],
        "start": [round(float(r["start"]) - t0, 6) for r in rows],
        "end": [round(float(r["end"]) - t0, 6) for r in rows],
        "status": [int(r["status"]) for r in rows],
        "conn": [int(r.get("conn") or 0) for r in rows],
        "delay": [round(float(r["delay"]) * 1000, 3) if r.get("delay") else None for r in rows],
    }


def in_flight_series(columns):
    """Requests in flight over one timeline (testbed_plots.in_flight, as inflight.png draws it)."""
    times, counts = in_flight(list(zip(columns["start"], columns["end"])))
    return {"x": times, "y": counts}


def fmt(v, spec=".3f", none="-"):
    """A number as `spec` says, `none` for a null; anything else (a crafted
    field) as escaped text."""
    if v is None:
        return none
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return format(v, spec)
    return esc(v)


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


def folder_files(directory):
    """The folder's file names, as the file system has them (bytes that are not
    UTF-8 kept as surrogate escapes), report.html aside."""
    return sorted(f for f in os.listdir(directory) if f != "report.html")


def file_item(directory, name):
    """One file of the folder in the list: a link and its size; a name that is
    not text, a dangling link, or a file that cannot be read is named, not linked."""
    shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    try:
        size = f'{os.path.getsize(os.path.join(directory, name)) / 1024:.0f} KiB'
    except OSError as e:
        return f'<li>{esc(shown)} <span class="size">(cannot be read: {esc(e.strerror or e)})</span></li>'
    if shown != name:
        return f'<li>{esc(shown)} <span class="size">{size} (its name is not UTF-8: not linked)</span></li>'
    why = UNREADABLE.get(name)
    note = f" (not drawn: {esc(why)})" if why else ""
    return f'<li><a href="{file_link(name)}">{esc(name)}</a> <span class="size">{size}{note}</span></li>'


def comparison_table(runs):
    head = ("<tr><th>model</th><th>C</th><th>seconds</th><th>ideal</th><th>efficiency</th>"
            "<th>overhead p50</th><th>p99</th><th>CPU ms / 1k</th><th>peak RSS</th><th>threads</th>"
            "<th>failed</th></tr>")
    body = []
    for r in runs:
        over, cost = r.get("overhead_us") or {}, r.get("cost") or {}
        name = r["model"] + (" --batched" if r.get("batched") else "")
        body.append(
            f"<tr><td>{esc(name)}</td><td>{esc(r['concurrency'])}</td><td>{fmt(r['seconds'])}</td>"
            f"<td>{fmt(r['ideal_seconds'])}</td>"
            f"<td>{fmt(r['efficiency'], '.1%', 'no answer')}</td>"
            f"<td>{fmt(over.get('p50') and over['p50'] / 1000, '.2f')} ms</td>"
            f"<td>{fmt(over.get('p99') and over['p99'] / 1000, '.2f')} ms</td>"
            f"<td>{fmt(cost.get('cpu_ms_per_1k'), '.0f')}</td>"
            f"<td>{fmt(cost.get('peak_rss_kib') and cost['peak_rss_kib'] / 1024, '.1f')} MB</td>"
            f"<td>{esc(cost.get('peak_threads', '-'))}</td><td>{esc(r['failed'])}</td></tr>")
    return f'<table class="numbers">{head}{"".join(body)}</table>'


def build(directory):
    page = Page()
    summary = read_json(directory, "summary.json") or []
    manifest = read_json(directory, "manifest.json") or {}
    models = [s["model"] for s in summary]
    colour = colours(models)

    # Settings and the comparison.
    page.section("settings", "The run")
    if summary:
        s0 = summary[0]
        conc = max(s["concurrency"] for s in summary)
        when = "; ".join(esc(manifest[k]) for k in ("date", "command") if manifest.get(k))
        page.raw(f"<p>{len(summary)} model{'s' if len(summary) != 1 else ''}, N={esc(s0['num'])} URLs each, "
                 f"delay {esc(s0['delay_ms'])} ms "
                 f"({esc(s0.get('delay_dist', 'fixed'))}), C={esc(conc)} for the concurrent models"
                 f"{'; ' + when if when else ''}. Ideal: a perfect semaphore with the delays the server "
                 "gave; overhead: each request's time beyond its delay; CPU and memory: the crawl "
                 "process's own.</p>")
        page.raw(comparison_table(summary))

    # Chronologies.
    timelines = {}
    for m in models:
        rows = read_csv(directory, f"client-{m}.csv")
        if rows:
            timelines[m] = timeline_columns(rows)
    if timelines:
        page.section("chronologies", "Each request's life",
                     "Every request a line from when the crawler sent it to when the answer came, request "
                     "number up, time since the model's first request across (the book's Figures 8-2 to "
                     "8-6). Drag to zoom, double-click to reset; hover a line's ends for the request.")
        for m in models:
            if m in timelines:
                s = next(x for x in summary if x["model"] == m)
                title = (f"{m}: {s['seconds']:.3f} s, ideal {s['ideal_seconds']:.3f} s "
                         f"(efficiency {fmt(s['efficiency'], '.3f', 'none: no answer')})")
                page.chart("chronology", {"title": title, "colour": colour[m], "runs": [timelines[m]]},
                           height=300)
        page.section("inflight", "Requests in flight",
                     "How quickly each model reaches its bound and how steadily it holds it.")
        page.chart("inflight", {"runs": [{"name": m, "colour": colour[m], **in_flight_series(timelines[m])}
                                         for m in models if m in timelines]}, height=380)

    spectra = [(s["model"], s.get("overhead_us_spectrum")) for s in summary if s.get("overhead_us_spectrum")]
    if spectra:
        page.section("overhead", "Where each model loses time",
                     "Time beyond the server's delay by percentile of requests (log axes, the x axis "
                     "stretching towards the slowest), from each model's overhead_us_spectrum.")
        page.chart("spectrum", {"runs": [{"name": m, "colour": colour.get(m, "#333"), "points": sp}
                                         for m, sp in spectra]}, height=420)

    scale = read_csv(directory, "scale.csv")
    if scale:
        page.section("scale", "How each model scales",
                     "Every concurrent model at C = 10 .. 10,000 (N = 2C, 100 ms): efficiency, CPU per 1k "
                     "requests, peak memory. A point a model could not run is left out (its reason is in "
                     "scale.csv).")
        for field, label, log in [("efficiency", "efficiency (ideal / measured)", False),
                                  ("cpu_ms_per_1k", "CPU ms per 1k requests", True),
                                  ("peak_rss_kib", "peak RSS (KiB)", True)]:
            series = []
            for m in dict.fromkeys(r["model"] for r in scale):
                pts = [(int(r["concurrency"]), float(r[field])) for r in scale
                       if r["model"] == m and not r["error"] and r[field]]
                series.append({"name": m, "colour": colour.get(m, "#333"), "x": [p[0] for p in pts],
                               "y": [p[1] for p in pts]})
            page.chart("lines", {"series": series, "xtitle": "concurrency C", "ytitle": label, "xlog": True,
                                 "ylog": log}, height=320, wide=False)

    sweep = read_csv(directory, "sweep.csv")
    if sweep:
        page.section("sweep", "The concurrency sweep",
                     "Time to fetch N URLs against concurrency, one line per delay (Figure 8-3); dashed: "
                     "the ideal.")
        series = []
        for k, d in enumerate(dict.fromkeys(r["delay_ms"] for r in sweep)):
            pts = [r for r in sweep if r["delay_ms"] == d]
            c = PALETTE[k % len(PALETTE)]
            series.append({"name": f"{d} ms", "colour": c, "x": [int(r["concurrency"]) for r in pts],
                           "y": [float(r["seconds"]) for r in pts]})
            series.append({"name": f"{d} ms ideal", "colour": c, "dash": "dash",
                           "x": [int(r["concurrency"]) for r in pts],
                           "y": [float(r["ideal_seconds"]) for r in pts]})
        page.chart("lines", {"series": series, "xtitle": "concurrency", "ytitle": "seconds", "xlog": True,
                             "ylog": True}, height=400)

    tails = read_json(directory, "tails-summary.json")
    if tails:
        s0 = tails[0]
        page.section("tails", "Delays with long tails",
                     f"The same {s0['delay_dist']} delays (median {s0['delay_ms']} ms) for every "
                     f"run, N={s0['num']}, C={s0['concurrency']}: each model's semaphore, and the batched "
                     "pattern (fire C, wait for all C). Dashed: the ideal; dotted: the batches' floor.")
        page.raw(comparison_table(tails))
        tail_models = list(dict.fromkeys(s["model"] for s in tails))
        tcolour = {m: colour.get(m, PALETTE[k % len(PALETTE)]) for k, m in enumerate(tail_models)}
        for s in tails:
            rows = read_csv(directory, s["name"] + ".csv")
            if not rows:
                continue
            title = (f"{s['model']}{' --batched' if s['batched'] else ''}: {s['seconds']:.2f} s, "
                     f"ideal {s['ideal_seconds']:.2f} s ({fmt(s['efficiency'], '.2f', 'no answer')})")
            marks = [{"x": s["ideal_seconds"], "dash": "dash"}]
            if s.get("batched_ideal_seconds"):
                marks.append({"x": s["batched_ideal_seconds"], "dash": "dot"})
            page.chart("chronology", {"title": title, "colour": tcolour[s["model"]],
                                      "runs": [timeline_columns(rows)], "marks": marks}, height=260, wide=False)

    load = read_json(directory, "load-summary.json")
    if load:
        s0 = load[0]
        page.section("load", "Requests that arrive at a rate",
                     f"Every concurrent model in an open loop against {s0['delay_ms']} ms with C="
                     f"{s0['concurrency']}: latency from when each request was due (p99 solid, p50 dotted) "
                     "against the offered rate, and what the server held against Little's law.")
        lat, held = [], []
        for m in dict.fromkeys(s["model"] for s in load):
            mine = sorted((s for s in load if s["model"] == m), key=lambda s: s["open_loop"]["rate_per_s"])
            x = [s["open_loop"]["rate_per_s"] for s in mine]
            c = colour.get(m, "#333")
            lat.append({"name": f"{m} p99", "colour": c, "x": x,
                        "y": [(s["open_loop"]["latency_from_due_ms"] or {}).get("p99") for s in mine]})
            lat.append({"name": f"{m} p50", "colour": c, "dash": "dot", "x": x,
                        "y": [(s["open_loop"]["latency_from_due_ms"] or {}).get("p50") for s in mine]})
            held.append({"name": m, "colour": c, "x": x,
                         "y": [s["open_loop"]["server_mean_in_flight"] for s in mine]})
        rates = sorted({s["open_loop"]["rate_per_s"] for s in load})
        little = {s["open_loop"]["rate_per_s"]: s["open_loop"]["littles_law_in_flight"] for s in load}
        held.append({"name": "Little's law: rate x delay", "colour": "#000", "x": rates,
                     "y": [little[r] for r in rates]})
        cap = s0["open_loop"].get("capacity_per_s")
        page.chart("lines", {"series": lat, "xtitle": "offered rate (per second)",
                             "ytitle": "latency from due (ms)", "ylog": True,
                             "vline": cap}, height=380, wide=False)
        page.chart("lines", {"series": held, "xtitle": "offered rate (per second)",
                             "ytitle": "requests the server held, on average",
                             "hline": s0["concurrency"]}, height=380, wide=False)

    # The savers benchmark.sh ran with timelines: the modes primes-summary.json
    # (and tails-primes-summary.json) list, in their order.
    primes_runs = []
    for prefix, suffix in [("primes", ""), ("tails-primes", ", long-tailed saves")]:
        for s in read_json(directory, f"{prefix}-summary.json") or []:
            name = f"{prefix}-{s['mode']}.csv"
            if os.path.exists(os.path.join(directory, name)):
                primes_runs.append((s["mode"] + suffix, name))
    psweep = read_csv(directory, "primes-sweep.csv")
    if primes_runs or psweep:
        page.section("primes", "Saving primes to a slow database",
                     "Each save a line from its request to its answer (save number up); the compute spans "
                     "on the line below zero. Then time against numbers probed per mode (Figure 8-7), each "
                     "with its bound dashed (compute plus the saves that must wait in turn).")
        for label, name in primes_runs:
            rows = read_csv(directory, name)
            t0 = min((float(r["start"]) for r in rows), default=0.0)
            saves = [r for r in rows if r["kind"] == "save"]
            computes = [r for r in rows if r["kind"] == "compute"]
            page.chart("primes", {
                "title": f"{label}: {len(saves)} saves",
                "save_start": [round(float(r["start"]) - t0, 6) for r in saves],
                "save_end": [round(float(r["end"]) - t0, 6) for r in saves],
                "save_value": [r["value"] for r in saves],
                "compute_start": [round(float(r["start"]) - t0, 6) for r in computes],
                "compute_end": [round(float(r["end"]) - t0, 6) for r in computes]}, height=300, wide=False)
        if psweep:
            series = []
            pmodes = list(dict.fromkeys(r["mode"] for r in psweep))  # primes --list-modes' order
            for mode, c in colours(pmodes).items():
                mine = sorted((int(r["max_number"]), r) for r in psweep if r["mode"] == mode)
                series.append({"name": mode, "colour": c, "x": [n for n, _ in mine],
                               "y": [max(float(r["seconds"]), 1e-6) for _, r in mine]})
                bound = [(n, float(r["bound_seconds"])) for n, r in mine if r.get("bound_seconds")]
                if bound:  # as primes --json derives it
                    series.append({"name": f"{mode} bound", "colour": c, "dash": "dash",
                                   "x": [b[0] for b in bound], "y": [max(b[1], 1e-6) for b in bound]})
            page.chart("lines", {"series": series, "xtitle": "numbers probed (max_number)",
                                 "ytitle": "seconds", "xlog": True, "ylog": True}, height=400)

    # Every file, and the manifest.
    page.section("files", "Every file of the run")
    page.raw("<ul class=\"files\">" + "".join(file_item(directory, f) for f in folder_files(directory)) + "</ul>")
    page.section("manifest", "Manifest")
    if manifest:
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                       for k, v in manifest.items())
        page.raw(f'<table class="manifest">{rows}</table><p><a href="{file_link("manifest.json")}">manifest.json</a></p>')
    else:
        page.raw("<p>This run has no manifest.json.</p>")
    return page


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1320px;padding:0 16px 40px;color:#222}
h1{font-size:22px;margin:18px 0 4px} h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd}
nav a{margin-right:12px} table{border-collapse:collapse;margin:8px 0}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right} th{text-align:left}
table.manifest td{text-align:left;font-family:monospace;font-size:12px}
.charts{display:flex;flex-wrap:wrap} .charts>*{flex:0 0 100%} .charts>.chart:not(.wide){flex:0 0 50%}
ul.files{columns:3;font-size:13px} .size{color:#888}
"""

SCRIPT = r"""
// WebGL for the big ones only: a browser keeps at most 16 WebGL contexts per
// page (Chromium drops the oldest beyond that, and its chart goes blank), and
// SVG draws a few thousand lines as fast.
var GL_FROM = 20000;
function kind(n){return n>=GL_FROM?'scattergl':'scatter';}
var drawers = {
  chronology: function(s){
    var traces=[];
    s.runs.forEach(function(r){
      var ok={x:[],y:[],customdata:[]}, bad={x:[],y:[],customdata:[]};
      for(var i=0;i<r.start.length;i++){
        var t=r.status[i]===200?ok:bad;
        var cd=[r.index[i],r.start[i],r.end[i],((r.end[i]-r.start[i])*1000).toFixed(3),r.conn[i],r.status[i],
                r.delay[i]===null?'-':r.delay[i]];
        t.x.push(r.start[i],r.end[i],null); t.y.push(r.index[i],r.index[i],null);
        t.customdata.push(cd,cd,null);
      }
      var hover='request %{customdata[0]}<br>start %{customdata[1]:.6f} s<br>end %{customdata[2]:.6f} s'+
                '<br>latency %{customdata[3]} ms<br>connection %{customdata[4]}<br>status %{customdata[5]}'+
                '<br>delay given %{customdata[6]} ms<extra></extra>';
      traces.push({type:kind(r.start.length),mode:'lines',x:ok.x,y:ok.y,customdata:ok.customdata,
                   line:{color:s.colour,width:1},hovertemplate:hover,name:'answered'});
      if(bad.x.length) traces.push({type:kind(r.start.length),mode:'lines',x:bad.x,y:bad.y,customdata:bad.customdata,
                   line:{color:'#d62728',width:2},hovertemplate:hover,name:'failed'});
    });
    var shapes=(s.marks||[]).map(function(m){return {type:'line',x0:m.x,x1:m.x,yref:'paper',y0:0,y1:1,
      line:{color:'#000',width:1,dash:m.dash}};});
    return [traces,{title:{text:s.title,font:{size:13},x:0.01,xanchor:'left'},showlegend:false,hovermode:'closest',shapes:shapes,
      xaxis:{title:'time since the first request (s)'},yaxis:{title:'request'},margin:{t:36,r:10,b:40,l:55}}];
  },
  inflight: function(s){
    var traces=s.runs.map(function(r){
      return {type:kind(r.x.length/2),mode:'lines',line:{shape:'hv',color:r.colour,width:1},x:r.x,y:r.y,name:r.name};
    });
    return [traces,{hovermode:'closest',xaxis:{title:"time since the model's first request (s)"},
      yaxis:{title:'requests in flight'},margin:{t:20,r:10,b:40,l:55}}];
  },
  spectrum: function(s){
    var traces=s.runs.map(function(r){
      var fin=r.points.filter(function(p){return p[0]<1;}).map(function(p){return p[0];});
      var top=fin.length?2/(1-Math.max.apply(null,fin)):2;
      return {type:'scatter',mode:'lines+markers',name:r.name,line:{color:r.colour},
        x:r.points.map(function(p){return p[0]<1?1/(1-p[0]):top;}),
        y:r.points.map(function(p){return Math.max(p[1],1)/1000;}),
        customdata:r.points.map(function(p){return (p[0]*100).toFixed(2)+'%';}),
        hovertemplate:r.name+': %{customdata} of requests within %{y:.3f} ms of their delay<extra></extra>'};
    });
    var q=[0,0.5,0.9,0.99,0.999,0.9999];
    return [traces,{xaxis:{type:'log',title:'percentile of requests',tickvals:q.map(function(v){return 1/(1-v);}),
      ticktext:['0%','50%','90%','99%','99.9%','99.99%']},yaxis:{type:'log',title:'overhead (ms)'},
      margin:{t:20,r:10,b:45,l:60}}];
  },
  lines: function(s){
    var traces=s.series.map(function(r){return {type:'scatter',mode:'lines+markers',name:r.name,x:r.x,y:r.y,
      line:{color:r.colour,dash:r.dash||'solid'},marker:{size:5}};});
    var shapes=[];
    if(s.vline) shapes.push({type:'line',x0:s.vline,x1:s.vline,yref:'paper',y0:0,y1:1,line:{color:'#888',dash:'dot'}});
    if(s.hline) shapes.push({type:'line',y0:s.hline,y1:s.hline,xref:'paper',x0:0,x1:1,line:{color:'#888',dash:'dash'}});
    return [traces,{shapes:shapes,hovermode:'closest',xaxis:{title:s.xtitle,type:s.xlog?'log':'linear'},
      yaxis:{title:s.ytitle,type:s.ylog?'log':'linear'},margin:{t:20,r:10,b:45,l:60},legend:{font:{size:10}}}];
  },
  primes: function(s){
    var sx=[],sy=[],cd=[];
    for(var i=0;i<s.save_start.length;i++){sx.push(s.save_start[i],s.save_end[i],null);sy.push(i,i,null);
      var d=[s.save_value[i],((s.save_end[i]-s.save_start[i])*1000).toFixed(2)];cd.push(d,d,null);}
    var cx=[],cy=[];
    for(var k=0;k<s.compute_start.length;k++){cx.push(s.compute_start[k],s.compute_end[k],null);cy.push(-5,-5,null);}
    return [[{type:kind(s.save_start.length),mode:'lines',x:sx,y:sy,customdata:cd,line:{color:'#4e79a7',width:1},name:'save',
              hovertemplate:'prime %{customdata[0]}: saved in %{customdata[1]} ms<extra></extra>'},
             {type:kind(s.compute_start.length),mode:'lines',x:cx,y:cy,line:{color:'#f28e2b',width:6},name:'computing'}],
            {title:{text:s.title,font:{size:13},x:0.01,xanchor:'left'},hovermode:'closest',xaxis:{title:'time since the search started (s)'},
             yaxis:{title:'save number'},margin:{t:36,r:10,b:40,l:55}}];
  }
};
var reportStatus={charts:CHARTS.length,with_data:0,errors:window.__reportErrors};
function finish(){
  // A chart counts as drawn when it has data and its axes have tick labels
  // (plotly draws them last, after the traces).
  reportStatus.with_data=Array.prototype.filter.call(document.querySelectorAll('.js-plotly-plot'),function(gd){
    return gd.data&&gd.data.length>0&&gd.data.some(function(t){return t.x&&t.x.length>0;})&&
           gd.querySelectorAll('.xtick text').length>0&&gd.querySelectorAll('.ytick text').length>0;
  }).length;
  reportStatus.webgl=!!document.createElement('canvas').getContext('webgl');
  reportStatus.webgl_charts=Array.prototype.filter.call(document.querySelectorAll('.js-plotly-plot'),function(gd){
    return gd.data&&gd.data.some(function(t){return t.type==='scattergl';});
  }).length;
  document.getElementById('report-status').textContent=JSON.stringify(reportStatus);
}
Promise.all(CHARTS.map(function(c){
  try{var fl=drawers[c.kind](c.spec);
      return Plotly.newPlot(c.id,fl[0],fl[1],{responsive:true,displaylogo:false});}
  catch(e){window.__reportErrors.push(c.id+': '+e);return null;}
})).then(finish,function(e){window.__reportErrors.push(String(e));finish();});
"""


def render(page, plotly_js, title):
    toc = " ".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in page.toc)
    charts = script_json(page.charts)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style>"
            # Registered before anything else runs, so an error anywhere is caught.
            "<script>window.__reportErrors=[];window.addEventListener('error',function(e){"
            "window.__reportErrors.push(String(e.message||e));});"
            # plotly reports what it cannot draw (no WebGL) on the console, not by throwing.
            "document.addEventListener('webglcontextlost',function(){"
            "window.__reportErrors.push('a WebGL context was lost (too many on the page?)');},true);"
            "(function(){var ce=console.error;console.error=function(){"
            "window.__reportErrors.push(Array.prototype.join.call(arguments,' '));return ce.apply(console,arguments);};"
            "})();</script>"
            f"<script>{plotly_js}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><nav>{toc}</nav>"
            f'<div class="charts">{"".join(page.parts)}</div>'
            '<pre id="report-status" hidden></pre>'
            f"<script>var CHARTS={charts};{SCRIPT}</script></body></html>")


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
    out = os.path.join(args.dir, "report.html")
    text = render(page, plotly_js, f"Concurrency testbed: {os.path.basename(os.path.abspath(args.dir))}")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, out)
    print(f"report: {out} ({len(page.charts)} charts, {os.path.getsize(out) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Opens a results folder's report.html in headless Chromium (Debian's
`chromium`), waits until the page has drawn every chart, and checks it: no
JavaScript error (thrown, or logged by plotly to the console), every chart
drawn (data in it, tick labels on its axes), and at least --min-charts of them.
Takes screenshots of the whole page, DIR/report-screenshot.png (and -2.png ...,
8,000 pixels each), for a person to look at.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
NUL-terminated JSON on file descriptors 3 and 4), so nothing listens on a port
and no library is needed. Exit status 0 when the page passes, 1 with the
reasons when it does not, 2 when it cannot be checked at all.

Every link must stay in the page or the folder ("#..." or "./..."), and with
--forbid-global NAME (a hostile folder's test) no script of the folder's may
have run: window.NAME must not exist.

Usage: check_report.py DIR [--min-charts N] [--timeout S] [--forbid-global NAME]
"""
import argparse
import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


TILE = 8000  # pixels of page per screenshot


class Browser:
    def __init__(self, binary, timeout):
        self.timeout = timeout
        self.next_id = 0
        self.events = []
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4.
        self.profile = tempfile.mkdtemp(prefix="check-report-")
        argv = [binary, "--headless", "--no-sandbox", "--remote-debugging-pipe", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
                # WebGL without a GPU: SwiftShader, software GL (the chronologies are WebGL traces).
                "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                f"--user-data-dir={self.profile}", "about:blank"]
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:")

        def child_fds():
            # Copies first: either pipe end may itself be 3 or 4. os.pipe()'s
            # descriptors close on exec; what dup2 makes here does not.
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(argv, preexec_fn=child_fds, close_fds=False, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:  # already gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.to_chrome, self.from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.from_chrome], [], [], 0.5)
            if ready:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed its pipe (did it start? is `chromium` installed?)")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error'].get('message')}")
                return m.get("result", {})
            self.events.append(m)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--min-charts", type=int, default=1)
    ap.add_argument("--min-webgl", type=int, default=0, help="charts that must be WebGL ones (big timelines)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds for the page to draw (default 120)")
    ap.add_argument("--forbid-global", action="append", default=[], metavar="NAME",
                    help="fail if window.NAME exists: a script smuggled in by the folder ran")
    args = ap.parse_args()
    report = os.path.abspath(os.path.join(args.dir, "report.html"))
    if not os.path.exists(report):
        print(f"check_report: no {report}", file=sys.stderr)
        return 2
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        print("check_report: chromium is not installed (scripts/setup.sh --browser installs it)", file=sys.stderr)
        return 2
    browser = Browser(binary, args.timeout)
    problems = []
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.send("Runtime.enable", session=session)
        browser.send("Page.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=session)
        opened = time.monotonic()
        browser.send("Page.navigate", {"url": "file://" + report}, session=session)
        # Wait for the page's own verdict: report.html fills #report-status once
        # every chart has been drawn (or has failed).
        deadline = time.monotonic() + args.timeout
        status = None
        while time.monotonic() < deadline:
            r = browser.send("Runtime.evaluate", {
                "expression": "(document.getElementById('report-status')||{}).textContent||''",
                "returnByValue": True}, session=session)
            text = r.get("result", {}).get("value", "")
            if text:
                status = json.loads(text)
                drawn_in = time.monotonic() - opened
                break
            time.sleep(0.5)
        if status is None:
            problems.append(f"the page did not finish drawing within {args.timeout:.0f} s")
        else:
            if status["errors"]:
                errors = status["errors"]
                more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
                problems.append(f"{len(errors)} JavaScript errors: {errors[:3]}{more}")
            if status["with_data"] != status["charts"]:
                problems.append(f"{status['charts'] - status['with_data']} of {status['charts']} charts were "
                                "not drawn (no data, or no tick labels on their axes): "
                                f"{', '.join(status.get('not_drawn') or [])}")
            if status["charts"] < args.min_charts:
                problems.append(f"{status['charts']} charts, expected at least {args.min_charts}")
            if status.get("webgl_charts", 0) < args.min_webgl:
                problems.append(f"{status.get('webgl_charts', 0)} WebGL charts, expected at least {args.min_webgl}")
        # Links only within the page or the folder, and nothing the folder smuggled in ran.
        r = browser.send("Runtime.evaluate", {
            "expression": "Array.from(document.querySelectorAll('a[href]')).map(function(a){"
                          "return a.getAttribute('href');}).filter(function(h){return !/^(#|\\.\\/)/.test(h);})",
            "returnByValue": True}, session=session)
        outside = r.get("result", {}).get("value") or []
        if outside:
            problems.append(f"{len(outside)} links lead out of the page and its folder: {outside[:3]}")
        for name in args.forbid_global:
            r = browser.send("Runtime.evaluate", {"expression": f"typeof window[{json.dumps(name)}]",
                                                  "returnByValue": True}, session=session)
            if r.get("result", {}).get("value") != "undefined":
                problems.append(f"window.{name} exists: a script from the folder ran in the page")
        # What the browser itself saw go wrong, beyond the page's own hook.
        for e in browser.events:
            if e.get("method") == "Runtime.exceptionThrown":
                d = e["params"]["exceptionDetails"]
                problems.append(f"uncaught: {d.get('exception', {}).get('description') or d.get('text')}")
        # Screenshots of the whole page for a person, 8,000 pixels each
        # (report-screenshot.png, -2.png, ...): a taller capture wraps around
        # in software rendering and repeats the top of the page.
        metrics = browser.send("Page.getLayoutMetrics", session=session)
        height = int(metrics.get("cssContentSize", metrics.get("contentSize", {})).get("height", 1000))
        for k, top in enumerate(range(0, height, TILE)):
            shot = browser.send("Page.captureScreenshot",
                                {"format": "png", "captureBeyondViewport": True,
                                 "clip": {"x": 0, "y": top, "width": 1400, "height": min(TILE, height - top),
                                          "scale": 1}},
                                session=session)
            name = "report-screenshot.png" if k == 0 else f"report-screenshot-{k + 1}.png"
            with open(os.path.join(args.dir, name), "wb") as f:
                f.write(base64.b64decode(shot["data"]))
    except (RuntimeError, TimeoutError, OSError) as e:
        problems.append(str(e))
    finally:
        browser.close()
    if problems:
        for p in problems:
            print(f"check_report: {p}", file=sys.stderr)
        return 1
    print(f"check_report: {status['charts']} charts drawn in {drawn_in:.1f} s ({status.get('webgl_charts')} of "
          f"them WebGL), no JavaScript errors; screenshot {os.path.join(args.dir, 'report-screenshot.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

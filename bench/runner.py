"""What the bench scripts share: asking crawl for its models and primes for
its modes (the C++ tables are the one lists), running a program for its
--json summary, a delayserver of our own, and a progress line. Standard
library only."""
import argparse
import csv
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request


def int_list(text):
    """argparse type: a comma-separated list of positive integers."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("values must be positive integers")
    return values


def list_models(crawl, concurrent=False):
    """The model table as `crawl --list-models --json` prints it, in the book's
    order; with concurrent=True only the models that keep C requests in flight."""
    p = subprocess.run([crawl, "--list-models", "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{crawl} --list-models failed ({p.returncode}): {p.stderr.strip()}")
    models = json.loads(p.stdout)
    return [m for m in models if not (concurrent and m["one_in_flight"])]


def list_prime_modes(primes):
    """The mode table as `primes --list-modes --json` prints it, in the book's order."""
    p = subprocess.run([primes, "--list-modes", "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{primes} --list-modes failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def last_json(stdout):
    """The --json object a program printed last, or None."""
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def run(argv, what, check=True, timeout=None, stderr=subprocess.PIPE):
    """Runs a program to its end: its CompletedProcess (text). With check, one
    that fails stops the script with its status and what it said."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise SystemExit(f"{what} failed (exit {p.returncode}): {(p.stderr or '').strip()[-2000:]}")
    return p


def run_json(argv, what, timeout=None, stderr=subprocess.PIPE):
    """Runs argv and returns its --json summary; (summary, exit status, stderr).
    A program that printed no summary at all stops the script with the reason.
    stderr=None lets the program's own progress through to ours."""
    p = run(argv, what, check=False, timeout=timeout, stderr=stderr)
    summary = last_json(p.stdout)
    if summary is None:
        raise SystemExit(f"{what}: no summary (exit {p.returncode}): {(p.stderr or '').strip()}")
    return summary, p.returncode, p.stderr or ""


def write_rows(path, fields, rows):
    """A stage's rows as CSV, `fields` its columns."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def http_get(url, timeout=10, context=None):
    """The body of a GET that answered 200 (https: trusting `context`)."""
    with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
        return r.read().decode("utf-8", "replace")


class Service:
    """A server of ours: started with its output in `log` (default: nowhere),
    ready when GET /health on its port answers, stopped by PID with SIGTERM
    (SIGKILL after `grace` s) when the `with` block ends. The port is given, or
    read from `port_file` once the server writes it."""

    def __init__(self, argv, what, port=None, port_file=None, log=None, ready_s=10, cafile=None):
        self.what, self.cafile = what, cafile  # cafile: it speaks https, with this certificate
        self.log = open(log, "w") if log else None
        self.proc = subprocess.Popen(argv, stdout=self.log or subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT if self.log else subprocess.DEVNULL)
        try:
            self.port = self._wait_ready(port, port_file, ready_s)
        except BaseException:
            self.stop()
            raise
        self.url = f"{'https' if cafile else 'http'}://127.0.0.1:{self.port}"

    def _wait_ready(self, port, port_file, ready_s):
        deadline = time.monotonic() + ready_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.what} exited before it was ready (status {self.proc.returncode})")
            try:
                if port_file:
                    with open(port_file) as f:
                        port = int(f.read())
                if self.cafile:
                    http_get(f"https://127.0.0.1:{port}/health", timeout=1,
                             context=ssl.create_default_context(cafile=self.cafile))
                else:
                    http_get(f"http://127.0.0.1:{port}/health", timeout=1)
                return port
            except (OSError, ValueError):
                time.sleep(0.05)
        raise SystemExit(f"{self.what} not ready within {ready_s} s")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def memory_kib(self):
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
        return out

    def stop(self, grace=120):
        """Stops the server; its exit status (a delayserver's 0: it wrote its timeline)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
        return self.proc.returncode


class Delayserver(Service):
    """A delayserver of our own on a free loopback port (--port 0 --port-file).
    `prefix` goes before the program (taskset, valgrind)."""

    def __init__(self, binary, args, log=None, prefix=(), ready_s=10):
        self.tmp = tempfile.TemporaryDirectory(prefix="delayserver-")
        port_file = os.path.join(self.tmp.name, "port")
        # --tls: its certificate (--cert's, or the one it made, written before
        # the port file); its url is https://.
        self.cert = None
        if "--tls" in args:
            self.cert = args[args.index("--cert") + 1] if "--cert" in args else port_file + ".cert.pem"
        try:
            super().__init__([*prefix, binary, "--port", "0", "--port-file", port_file, *args], "delayserver",
                             port_file=port_file, log=log, ready_s=ready_s, cafile=self.cert)
        except BaseException:
            self.tmp.cleanup()
            raise

    def stop(self, grace=120):
        status = super().stop(grace)
        self.tmp.cleanup()
        return status


class Progress:
    """`name: k/n message` on stderr: rewritten in place on a terminal, one line
    per step in a log."""

    def __init__(self, name, total):
        self.name, self.total, self.tty = name, total, sys.stderr.isatty()

    def step(self, k, message):
        line = f"{self.name}: {k}/{self.total} {message}"
        if self.tty:
            print(f"\r{line:<78}", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def done(self):
        if self.tty:
            print(file=sys.stderr)

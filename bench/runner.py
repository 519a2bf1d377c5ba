"""What the bench scripts share: asking crawl for its models and primes for
its modes (the C++ tables are the one lists), running a program for its
--json summary, and a progress line. Standard library only."""
import argparse
import csv
import json
import os
import subprocess
import sys


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


def run_json(argv, what):
    """Runs argv and returns its --json summary; (summary, exit status, stderr).
    A program that printed no summary at all stops the script with the reason."""
    p = subprocess.run(argv, capture_output=True, text=True)
    lines = p.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        summary = None
    if summary is None:
        raise SystemExit(f"{what}: no summary (exit {p.returncode}): {p.stderr.strip()}")
    return summary, p.returncode, p.stderr


def write_results(out_dir, stem, summaries, fields, rows):
    """A stage's outputs: STEM-summary.json (every run's --json summary) and
    STEM.csv (one row per run, `fields` its columns)."""
    with open(os.path.join(out_dir, f"{stem}-summary.json"), "w") as f:
        json.dump(summaries, f)
    with open(os.path.join(out_dir, f"{stem}.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


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

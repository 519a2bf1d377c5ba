#!/usr/bin/env python3
"""Writes a run's manifest.json: what was run and on what, so a result can be
traced and repeated. Date, the command line, every seed used (the server's and
each crawl's, read from the run's summaries), the git commit and version of
the three programs and what they were built with (their --version), CPU model
and count, memory, kernel, and whether server and load were pinned to cores.

Usage: manifest.py --dir DIR --build BUILD --command "..." [--server-seed S] [--pinned no]
                   [--stage-seed STAGE=SEED ...]
Standard library only.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys


def version(binary):
    try:
        p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        lines = p.stdout.strip().splitlines()
        return {"version": lines[0] if lines else "", "built_with": lines[1] if len(lines) > 1 else ""}
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"version": f"unavailable: {e}", "built_with": ""}


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def seeds(directory):
    """Every crawl's seed, by summary file and run."""
    found = {}
    for path in sorted(glob.glob(os.path.join(directory, "*summary*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                runs = json.load(f)
        except (OSError, json.JSONDecodeError):
            continue
        for r in runs if isinstance(runs, list) else []:
            if "seed" in r and "model" in r:
                name = r.get("name") or r["model"]
                key = f"{os.path.basename(path)}: {name}"
                if r.get("open_loop"):
                    key += f" at {r['open_loop']['rate_per_s']:g}/s"
                found[key] = r["seed"]
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--command", required=True, help="the command line that made the run")
    ap.add_argument("--server-seed", type=int, help="the delay server's --seed")
    ap.add_argument("--pinned", default="no", help="whether server and load were pinned to cores")
    ap.add_argument("--stage-seed", action="append", default=[], metavar="STAGE=SEED",
                    help="the crawl seed of a stage that keeps no summaries (sweep, scale)")
    args = ap.parse_args()
    manifest = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": args.command,
        "server_seed": args.server_seed,
        "crawl_seeds": seeds(args.dir),
        "stage_seeds": dict(s.split("=", 1) for s in args.stage_seed),
        "programs": {p: version(os.path.join(args.build, p)) for p in ("delayserver", "crawl", "primes")},
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", "") if hasattr(platform, "freedesktop_os_release") else "",
        "pinned": args.pinned,
    }
    write_atomic(os.path.join(args.dir, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    return 0


def write_atomic(path, text):
    """Writes a file whole or not at all: a temporary file beside it, synced,
    then renamed over it (a full disk leaves the old file, never 0 bytes)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes a run's manifest.json: what was run and on what, so a result can be
traced and repeated. Date, the command line, each stage's seeds
(read from its STAGE-summary.json: the seed it gave, the server's, and the
seeds its runs report), the git commit and version of the three programs and
what they were built with (their --version), the Python interpreter and the
version of each library the Python models use (pycrawl/models.py's versions()),
CPU model and count, memory, kernel, and whether server and load were pinned
to cores.

Usage: manifest.py --dir DIR --build BUILD --command "..." [--pinned no]
Standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import python_models
import runfolder


def version(binary):
    try:
        p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        lines = p.stdout.strip().splitlines()
        return {"version": lines[0] if lines else "", "built_with": lines[1] if len(lines) > 1 else ""}
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"version": f"unavailable: {e}", "built_with": ""}


def python_versions():
    """This interpreter's version and each Python model library's (pycrawl/models.py's versions())."""
    try:
        return python_models.pymodels.versions()
    except OSError as e:  # no dpkg-query
        return {"unavailable": str(e)}


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


def stages(directory):
    """Each stage the folder has, in the run's order: its seeds and settings."""
    found = []
    for stage in runfolder.stages_in(directory):
        try:
            summary = runfolder.read_summary(directory, stage)
        except (OSError, ValueError) as e:
            found.append({"stage": stage, "unreadable": str(e)})
            continue
        run_seeds = sorted({r["seed"] for r in summary["runs"] if isinstance(r, dict) and "seed" in r})
        found.append({"stage": stage, "seed": summary.get("seed"),
                      "server_seed": (summary.get("server") or {}).get("seed"), "run_seeds": run_seeds,
                      "runs": len(summary["runs"]), "summary": runfolder.summary_name(stage)})
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--build", default="build")
    ap.add_argument("--command", required=True, help="the command line that made the run")
    ap.add_argument("--pinned", default="no", help="whether server and load were pinned to cores")
    args = ap.parse_args()
    manifest = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": args.command,
        "stages": stages(args.dir),
        "programs": {p: version(os.path.join(args.build, p)) for p in ("delayserver", "crawl", "primes")},
        "python": python_versions(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", "") if hasattr(platform, "freedesktop_os_release") else "",
        "pinned": args.pinned,
    }
    runfolder.write_atomic(runfolder.path(args.dir, runfolder.MANIFEST), json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

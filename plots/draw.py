#!/usr/bin/env python3
"""Draws every picture of a run folder: for each stage whose summary it holds,
the plot that stage has (the stages are bench/runfolder.py's).

Usage: draw.py DIR
"""
import argparse
import sys

import plot_connections
import plot_crawl
import plot_load
import plot_primes
import plot_python
import plot_scale
import plot_spike
import plot_stealing
import plot_sweep
import plot_tails
import plot_tls
import plot_work
import testbed_plots as tp
from testbed_plots import runfolder

# Every stage and what draws it: draw(directory, summary), 0 when drawn.
DRAWERS = {"crawl": plot_crawl.draw, "python": plot_python.draw, "sweep": plot_sweep.draw, "scale": plot_scale.draw,
           **plot_primes.DRAWERS, "tails": plot_tails.draw, "work": plot_work.draw,
           "stealing": plot_stealing.draw,
           "connections": plot_connections.draw, "tls": plot_tls.draw, "load": plot_load.draw,
           "spike": plot_spike.draw}
assert set(DRAWERS) == set(runfolder.STAGE_NAMES), "a picture for every stage"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a benchmark.sh output folder")
    args = ap.parse_args()
    failed = 0
    for stage in runfolder.stages_in(args.dir):
        summary = tp.stage_summary(args.dir, stage, "draw")
        if summary is None or DRAWERS[stage](args.dir, summary):
            print(f"draw: the {stage} stage's picture was not drawn", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())

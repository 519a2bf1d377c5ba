"""The primes stages (primes, tails-primes): the savers that keep computing
while they save (`primes --list-modes`: those that save, but not one prime at
a time; batched and async) at one max_number, each writing its timeline
(STAGE-MODE.csv). Every figure is primes' own (--json)."""
import runfolder
from runner import run_json


PROGRAM = "primes"  # whose table (--list-models, --list-modes) its runs come from


def saver_modes(modes):
    return [m["name"] for m in modes if m["saves"] and not m["one_at_a_time"]]


def run(ctx, s, got):
    for mode in saver_modes(ctx.modes):
        print(f"benchmark: {ctx.stage}: primes --mode {mode} --max-number {s['max_number']}", flush=True)
        argv = [ctx.primes, "--mode", mode, "--max-number", str(s["max_number"]), "--url", ctx.url,
                "--timeline", ctx.file(runfolder.primes_timeline_name(ctx.stage, mode)), "--json"]
        summary, rc, err = run_json(argv, f"{ctx.stage}: primes {mode}")
        got.runs.append(summary)
        if rc != 0:
            got.fail(f"primes {mode} lost saves: {err.strip()}")

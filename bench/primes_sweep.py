"""The primes sweep (the book's Figure 8-7): time to find and save every prime
below max_number, for max_number = 2^MIN .. 2^MAX and each mode of
`primes --list-modes`. One that saves one prime at a time (serial) pays a
database latency per prime, so it stops at serial_max_exp; extend_modes go on
to extend_exp. One row per run in primes-sweep.csv (the bound and the save
latency as primes --json gives them); then a check, through GET /primes, that
the database holds exactly the primes below the largest max_number any saving
mode ran, nothing lost. plots/plot_primes.py draws it."""
import json

from runner import Progress, http_get, run_json
PROGRAM = "primes"  # whose table (--list-models, --list-modes) its runs come from

FIELDS = ["mode", "max_number", "primes", "seconds", "compute_seconds", "failed", "save_latency_ms",
          "bound_seconds"]


def plan(modes, s):
    """(mode, max_number) for every run, in the mode table's order."""
    unknown = [m for m in s["extend_modes"] if m not in {t["name"] for t in modes}]
    if unknown:
        raise SystemExit(f"primes-sweep: unknown extend_modes {unknown} (primes --list-modes)")
    runs = []
    for m in modes:
        top = min(s["max_exp"], s["serial_max_exp"]) if m["one_at_a_time"] else s["max_exp"]
        if m["name"] in s["extend_modes"]:
            top = max(top, s["extend_exp"])
        runs += [(m, 2 ** e) for e in range(s["min_exp"], top + 1)]
    return runs


def optional(v, spec):
    return "" if v is None else format(v, spec)


def run(ctx, s, got):
    runs = plan(ctx.modes, s)
    largest_saved, expected = 0, None
    progress = Progress("primes_sweep", len(runs))
    for k, (mode, n) in enumerate(runs, 1):
        r, _, _ = run_json([ctx.primes, "--mode", mode["name"], "--max-number", str(n), "--url", ctx.url,
                            "--json"], "primes-sweep: primes")
        got.runs.append(r)
        got.rows.append({"mode": mode["name"], "max_number": n, "primes": r["primes"],
                         "seconds": f"{r['seconds']:.6f}", "compute_seconds": f"{r['compute_seconds']:.6f}",
                         "failed": r["failed"], "save_latency_ms": optional(r["save_latency_ms"], "g"),
                         "bound_seconds": optional(r["bound_seconds"], ".6f")})
        if r["failed"]:
            got.fail(f"{mode['name']} at {n}: {r['failed']} primes were not saved")
        if mode["saves"] and n > largest_saved:
            largest_saved, expected = n, r["primes"]
        progress.step(k, f"{mode['name']} 2^{n.bit_length() - 1}: {r['seconds']:.3f} s")
    progress.done()
    if expected is not None:
        stored = json.loads(http_get(ctx.url + "/primes"))
        ok = stored["count"] == expected
        print(f"primes-sweep: database holds {stored['count']} primes, expected {expected} "
              f"(all primes below {largest_saved}): {'ok' if ok else 'MISMATCH'}", flush=True)
        if not ok:
            got.fail(f"the database holds {stored['count']} primes, not {expected}")

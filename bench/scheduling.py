"""Scheduling benchmark: first-fit greedy against the optimiser, plus interactive latencies.

Run from the repository root:

    python -m bench.scheduling                      # every size, 10 s per optimiser run
    python -m bench.scheduling --sizes 300 --time-limit 2
    python -m bench.scheduling --instance my.json --json

Prints a table, then (with --json) one JSON object per method and instance as the last lines.
Instance sizes are named "providers x days / requests"; see bench/README.scheduling.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `scheduling` the package, not this module
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.instances import Instance, generate, load  # noqa: E402
from scheduling.backfill import backfill  # noqa: E402
from scheduling.optimizer import OptimizationResult, first_fit, optimize  # noqa: E402
from scheduling.slots import FreeTime  # noqa: E402
from scheduling.suggest import BookingRequest, suggest  # noqa: E402

# (providers, days, requests, existing appointments, grid minutes)
CASES = {
    "300": (10, 5, 300, 0, 15),
    "450": (10, 5, 450, 0, 15),
    "600": (10, 5, 600, 0, 15),
    "1000": (10, 5, 1000, 0, 15),
    "clinic": (30, 20, 1500, 3000, 5),
    "scale": (20, 10, 2000, 0, 15),
}


def _rates(inst: Instance, res: OptimizationResult) -> dict[str, object]:
    by_id = {r.id: r for r in inst.requests}
    placed = {a.request_id: a for a in res.assignments}
    per_urgency = {}
    for u in range(1, 6):
        ids = [r.id for r in inst.requests if r.urgency == u]
        per_urgency[u] = f"{sum(i in placed for i in ids)}/{len(ids)}"
    wants = [i for i in placed if by_id[i].preferred_times or by_id[i].preferred_weekdays]
    met = [i for i in wants if "as you prefer" in res.reasons.get(i, "")]
    usual = [i for i in placed if by_id[i].usual_provider_id]
    kept = [i for i in usual if placed[i].provider_id == by_id[i].usual_provider_id]
    return {
        "by_urgency": per_urgency,
        "preference_rate": len(met) / max(1, len(wants)),
        "continuity_rate": len(kept) / max(1, len(usual)),
    }


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


def latencies(seed: int = 0, samples: int = 200) -> dict[str, float]:
    """p95 ms of suggest() and backfill() on a 30-provider x 20-day clinic, 3,000 bookings."""
    inst = generate(providers=30, days=20, requests=samples, seed=seed, grid=5, existing=3000)
    clinic = inst.clinic
    starts = [r.window_start for r in inst.requests]
    ends = [r.window_end for r in inst.requests]
    built = time.perf_counter()
    free = FreeTime.build(clinic, min(starts), max(ends))
    build_ms = (time.perf_counter() - built) * 1000
    sug = []
    for r in inst.requests:
        t = time.perf_counter()
        suggest(clinic, r, k=5, free=free)
        sug.append((time.perf_counter() - t) * 1000)
    rng = random.Random(seed)
    waitlist: list[BookingRequest] = inst.requests[:100]
    fills = []
    for _ in range(samples):
        gone = rng.choice(clinic.appointments)
        rest = [a for a in clinic.appointments if a is not gone]
        smaller = replace(clinic, appointments=rest)
        t = time.perf_counter()
        backfill(smaller, gone, waitlist)
        fills.append((time.perf_counter() - t) * 1000)
    return {"suggest_p95_ms": _p95(sug), "backfill_p95_ms": _p95(fills), "build_ms": build_ms}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="*", default=list(CASES), help=f"from {list(CASES)}")
    ap.add_argument("--instance", type=Path, action="append", help="JSON instance file")
    ap.add_argument("--time-limit", type=float, default=10.0, help="optimiser seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--work-limit", type=float, default=None, help="optimiser work units (default: calibrated)"
    )
    ap.add_argument("--json", action="store_true", help="end with one JSON line per run")
    ap.add_argument("--no-latency", action="store_true", help="skip suggest/back-fill p95")
    args = ap.parse_args(argv)

    instances = [load(p) for p in args.instance or []]
    if not args.instance:
        for name in args.sizes:
            prov, days, n, existing, grid = CASES[name]
            inst = generate(prov, days, n, seed=args.seed, grid=grid, existing=existing)
            inst.name = f"{name}: {inst.name}"
            instances.append(inst)
    lines = []
    head = f"{'instance':28} {'load':>5} {'method':10} {'objective':>10} {'gap%':>6} {'x ff':>6}"
    print(
        head + f" {'placed':>9} {'by urgency 1..5':34} {'pref':>5} {'cont':>5} {'sec':>6}"
        f" {'cpu':>6} status"
    )
    for inst in instances:
        cpu0 = time.process_time()
        ff = first_fit(inst.clinic, inst.requests)
        cpu1 = time.process_time()
        opt = optimize(
            inst.clinic,
            inst.requests,
            time_limit=args.time_limit,
            seed=args.seed,
            work_limit=args.work_limit,
        )
        cpu = {"first_fit": cpu1 - cpu0, "optimizer": time.process_time() - cpu1}
        load_ = inst.load
        for res in (ff, opt):
            gap = max(0.0, (opt.bound - res.objective) / opt.bound) if opt.bound > 0 else 0.0
            rates = _rates(inst, res)
            urg = " ".join(rates["by_urgency"].values())
            ratio = res.objective / ff.objective if ff.objective else float("nan")
            print(
                f"{inst.name[:28]:28} {load_:5.2f} {res.method:10} {res.objective:10d} "
                f"{gap * 100:6.2f} {ratio:6.3f} {len(res.assignments):4d}/{len(inst.requests):<4d} "
                f"{urg:34} {rates['preference_rate']:5.2f} {rates['continuity_rate']:5.2f} "
                f"{res.seconds:6.2f} {cpu[res.method]:6.2f} {res.status}"
            )
            lines.append(
                {
                    "method": res.method,
                    "instance": inst.name,
                    "requests": len(inst.requests),
                    "objective": res.objective,
                    "bound": round(opt.bound, 1),
                    "gap": round(gap, 5),
                    "scheduled": len(res.assignments),
                    "seconds": round(res.seconds, 3),
                    "cpu_seconds": round(cpu[res.method], 3),
                    "status": res.status,
                    "iterations": res.iterations,
                }
            )
        sys.stdout.flush()
    if not args.no_latency and not args.instance:
        lat = latencies(args.seed)
        print(
            f"suggestions p95 {lat['suggest_p95_ms']:.1f} ms, back-fill p95 "
            f"{lat['backfill_p95_ms']:.1f} ms (30 providers x 20 days, 3,000 bookings; free-time "
            f"build {lat['build_ms']:.0f} ms once)"
        )
    if args.json:
        for line in lines:
            print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

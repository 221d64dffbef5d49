"""Batch optimisation of booking requests: greedy best-fit, then large-neighbourhood search.

Objective (maximised, integer points, weights in `scheduling.suggest.Weights`):

    sum over placed requests of  scheduled[urgency]            urgency-weighted count placed
                               + weekday + part_of_day         each when the preference is met
                               + continuity                    with the usual provider
                               + soon * (urgency-1) * (1 - d/D) sooner for urgent, d of D days
    - idle_per_minute * idle minutes     per working block: (last end - first start) - busy
    - overload_per_minute * overload     per provider: minutes booked above a fair share of
                                         demand (share = provider capacity / clinic capacity)

Hard constraints: working time, breaks, time off, closures and existing appointments; no
overlap per provider (duration + buffer) or per patient (duration); eligibility (explicit
providers, specialty, location); every visit inside its request's window; starts on the grid.

Search (modules): `scheduling.batch` resolves every request once into its options (provider,
block, part of day, points) and runs first-fit and best-fit greedy schedules over them, the best
kept; `scheduling.moves` inserts, evicts and relocates single requests; `scheduling.lns` then
repairs a few working blocks per step with small CP-SAT models (mostly "which requests fill
which free interval", over grid cells, laid out end to end; sometimes start times directly),
keeping the answer only if the exact objective does not drop. Every decision is driven by the
seed and by counted work (`work_limit`: CP-SAT deterministic time plus a fixed charge per option,
per local-search try and per model variable), so the same input and seed give the same
schedule; the wall-clock `time_limit` (seconds) is only a safety cap, reported in `status`.

Bound (`scheduling.lp_bound`): the LP relaxation of "each request placed at most once, each
free interval filled to at most its grid cells, also before and after local 12:00 and 17:00,
and the minutes lost to rounding a visit up to the grid counted as idle", by column generation
with GLOP; the argument that it stays above the objective is in that module. CP-SAT's own bound
on the full problem is far looser (35-50 %), so it is not computed.
"""

from __future__ import annotations

import math
import random
import time as clock
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduling.batch import Plan, Problem, best_fit_plan, first_fit_plan, orders, ranked_by
from scheduling.lns import improve
from scheduling.lp_bound import upper_bound as _lp_bound
from scheduling.moves import insert_pass, relocate_pass
from scheduling.slots import Clinic, from_minute
from scheduling.suggest import DEFAULT_WEIGHTS, BookingRequest, Weights, explain

WORK_PER_SECOND = 0.3  # work units per second of time limit (2-core machine, calibrated)
SETUP_WORK_PER_OPTION = 5e-6  # work units charged per request option for greedy and LP
WORK_PER_LP_ITERATION = 2e-5  # work units charged per simplex iteration of the LP bound
MOVE_TRIALS_PER_REQUEST = 40  # local-search tries per request before the CP-SAT repairs
WORK_PER_TRIAL = 2e-5  # work units charged per local-search try


@dataclass(frozen=True)
class Assignment:
    request_id: str
    provider_id: str
    location_id: str
    start: datetime  # aware UTC
    end: datetime  # aware UTC, start + duration (buffer excluded)
    points: int


@dataclass(frozen=True)
class OptimizationResult:
    """`seconds` is wall time; `gap` = (bound - objective) / bound; `reasons` per request id."""

    method: str
    assignments: tuple[Assignment, ...]
    objective: int
    bound: float
    gap: float
    seconds: float
    status: str  # "optimal", "feasible", "time_cap" (wall cap hit: not reproducible), "empty"
    reasons: Mapping[str, str]
    iterations: int = 0


def upper_bound(
    pb: Problem, time_limit: float = 5.0
) -> tuple[float, dict[int, float], dict[tuple, float]]:
    """LP bound (points), the LP's share placed per request, and its pull per option."""
    bound, taken, pull, _, _ = _lp_bound(pb, time_limit)
    return bound, taken, pull


def _result(
    pb: Problem, plan: Plan, method: str, bound: float, began: float, status: str, iters: int
) -> OptimizationResult:
    objective = pb.objective(plan) if pb.preps else 0
    reasons = dict(pb.reasons)
    assignments = []
    for i, prep in pb.preps.items():
        pl = plan.at.get(i)
        if pl is None:
            reasons[prep.request.id] = (
                "not scheduled: no free time with an eligible provider in the window"
                if not any(pb.earliest(pb.base, i, o, ()) is not None for o in pb.options[i])
                else "not scheduled: the window is full with requests of equal or higher priority"
            )
            continue
        assignments.append(
            Assignment(
                prep.request.id,
                pl.provider_id,
                pl.block.location_id,
                from_minute(pl.start),
                from_minute(pl.start + prep.duration),
                pl.points,
            )
        )
        reasons[prep.request.id] = explain(prep, pb.names[pl.provider_id], pl.block, pl.part)
    if math.isinf(bound):
        gap = math.nan  # no bound computed
    else:
        gap = max(0.0, (bound - objective) / bound) if bound > 0 else 0.0
    if status == "feasible" and gap < 1e-9:
        status = "optimal"
    return OptimizationResult(
        method,
        tuple(assignments),
        objective,
        bound,
        gap,
        clock.perf_counter() - began,
        status,
        reasons,
        iters,
    )


def first_fit(
    clinic: Clinic,
    requests: Sequence[BookingRequest],
    weights: Weights = DEFAULT_WEIGHTS,
    with_bound: bool = False,
) -> OptimizationResult:
    """Baseline: first come, first served, each at its earliest feasible start."""
    began = clock.perf_counter()
    pb = Problem(clinic, requests, weights)
    bound = upper_bound(pb, 60.0)[0] if with_bound and pb.preps else math.inf
    return _result(pb, first_fit_plan(pb), "first_fit", bound, began, "feasible", 0)


def optimize(
    clinic: Clinic,
    requests: Sequence[BookingRequest],
    weights: Weights = DEFAULT_WEIGHTS,
    time_limit: float = 10.0,
    seed: int = 0,
    work_limit: float | None = None,
) -> OptimizationResult:
    """Best schedule found: greedy, then LNS until `work_limit` or `time_limit` (seconds).

    `work_limit` is in work units for the whole run (default `WORK_PER_SECOND * time_limit`):
    a fixed charge per request option (greedy, LP), per simplex iteration of the LP and per
    local-search try comes off first,
    the CP-SAT repairs spend the rest (their deterministic time plus a charge per model
    interval or variable). It and fixed counts, not the clock, decide when each phase stops,
    so results reproduce unless `status` is "time_cap". Never worse than first-fit: the
    first-fit schedule is the starting candidate and every step is kept only if the objective
    does not drop.
    """
    began = clock.perf_counter()
    deadline = began + time_limit
    pb = Problem(clinic, requests, weights)
    if not pb.preps:
        return _result(pb, pb.new_plan(), "optimizer", 0.0, began, "empty", 0)
    bound, taken, pull, capped, lp_iterations = _lp_bound(pb, max(0.5, time_limit * 0.6))
    plan = first_fit_plan(pb)
    best = pb.objective(plan)
    pulled = ranked_by(pb, pull)  # sorted once, shared by the variants with the pull
    variants = [(order, pulled) for order in orders(pb, taken)]
    if pull:  # the LP's pull usually helps; keep one variant without it
        variants.append((variants[0][0], pb.ranked))
    for order, ranked in variants:
        if clock.perf_counter() > began + time_limit * 0.8:
            capped = True  # safety only: greedy variants are cheap
            break
        other = best_fit_plan(pb, order, ranked=ranked)
        if pb.objective(other) > best:
            plan, best = other, pb.objective(other)
    budget = WORK_PER_SECOND * time_limit if work_limit is None else work_limit
    budget -= SETUP_WORK_PER_OPTION * sum(len(o) for o in pb.options.values())
    budget -= WORK_PER_LP_ITERATION * lp_iterations
    # local search: up to MOVE_TRIALS_PER_REQUEST tries per request, within 80 % of the budget
    planned = min(MOVE_TRIALS_PER_REQUEST * len(pb.preps), int(0.8 * budget / WORK_PER_TRIAL))
    trials = [max(0, planned)]
    while trials[0] > 0:
        if clock.perf_counter() >= deadline:
            capped = True
            break
        gain = insert_pass(pb, plan, trials, deadline) + relocate_pass(pb, plan, trials, deadline)
        if gain <= 0:
            break
    capped = capped or clock.perf_counter() >= deadline
    budget -= WORK_PER_TRIAL * (max(0, planned) - trials[0])
    iters, cut = improve(pb, plan, random.Random(seed), budget, deadline, bound)
    capped = capped or cut
    return _result(pb, plan, "optimizer", bound, began, "time_cap" if capped else "feasible", iters)


__all__ = ["Assignment", "OptimizationResult", "first_fit", "optimize", "upper_bound"]

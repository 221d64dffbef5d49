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

Search: first-fit and best-fit greedy schedules, the better kept; then each LNS step frees a
few provider-days (a random day across providers, a run of days for one provider, or the
options of an unplaced request), offers their requests plus a sample of unplaced ones to a
small CP-SAT interval model (one optional interval per request, block and part of day), and
keeps the answer only if the exact objective does not drop. Every decision is driven by the
seed and by CP-SAT deterministic time (`work_limit`), so the same input and seed give the same
schedule; the wall-clock `time_limit` (seconds) is only a safety cap, reported in `status`.

Bound: the LP relaxation (GLOP) of "each request placed at most once, each free interval filled
to at most its grid cells"; the penalties are >= 0, so its value bounds the objective from above.
CP-SAT's own bound on the full problem is far looser (35-50 %), so it is not computed.
"""

from __future__ import annotations

import math
import random
import time as clock
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from scheduling.slots import Block, Clinic, FreeTime, from_minute, to_minute
from scheduling.suggest import (
    DEFAULT_WEIGHTS,
    BookingRequest,
    Prepared,
    SchedulingInfeasible,
    Weights,
    candidate_starts,
    explain,
    prepare,
    score,
)

WORK_PER_SECOND = 0.4  # work units per second of time limit; greedy + LP use the rest
REPAIR_WORK = 0.05  # CP-SAT deterministic-time cap of one repair
OPTION_WORK = 0.0005  # work units charged per optional interval of a repair model
MAX_EXTRA = 8  # unplaced requests offered to one repair


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


@dataclass
class _Placed:
    provider_id: str
    start: int
    block: Block
    part: str
    points: int


@dataclass
class _Plan:
    free: FreeTime
    at: dict[int, _Placed] = field(default_factory=dict)
    by_provider: dict[str, set[int]] = field(default_factory=dict)
    patient: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)


class _Problem:
    """Requests resolved against the clinic, plus the per-provider facts the objective needs."""

    def __init__(self, clinic: Clinic, requests: Sequence[BookingRequest], weights: Weights):
        self.clinic, self.w, self.requests = clinic, weights, list(requests)
        self.reasons: dict[str, str] = {}
        self.preps: dict[int, Prepared] = {}
        spans = [(to_minute(r.window_start), to_minute(r.window_end)) for r in requests]
        lo = min((s for s, _ in spans), default=0)
        hi = max((e for _, e in spans), default=0)
        self.base = FreeTime.build(clinic, from_minute(lo), from_minute(max(hi, lo + 1)))
        types = {t.id: t for t in clinic.appointment_types}
        for i, r in enumerate(requests):
            try:
                self.preps[i] = prepare(r, clinic, types, self.base)
            except SchedulingInfeasible as exc:
                self.reasons[r.id] = exc.reason
        self.tz = {loc.id: loc.tz for loc in clinic.locations}
        self.names = {p.id: p for p in clinic.providers}
        # (provider, block start) -> existing spans in that block
        self.fixed: dict[tuple[str, int], list[tuple[int, int]]] = {}
        self.existing_load: dict[str, int] = {}
        self.existing_patient: dict[str, list[tuple[int, int, int]]] = {}
        for a in clinic.appointments:
            s, e = to_minute(a.start), to_minute(a.end) + a.buffer_after
            blk = self._block_at(a.provider_id, s)
            if blk is not None:
                self.fixed.setdefault((a.provider_id, blk.start), []).append((s, e))
            self.existing_load[a.provider_id] = self.existing_load.get(a.provider_id, 0) + e - s
            if a.patient_id is not None:
                span = (s, to_minute(a.end), -1)
                self.existing_patient.setdefault(a.patient_id, []).append(span)
        cap = {p: sum(b.end - b.start for b in bs) for p, bs in self.base.blocks.items()}
        demand = sum(p.length for p in self.preps.values()) + sum(self.existing_load.values())
        share = min(1.0, demand / max(1, sum(cap.values())))
        self.target = {p: int(c * share) for p, c in cap.items()}
        self.pdays: dict[tuple[str, int], tuple[int, int]] = {}
        for p, bs in self.base.blocks.items():
            for b in bs:
                s0, e0 = self.pdays.get((p, b.day), (b.start, b.end))
                self.pdays[(p, b.day)] = (min(s0, b.start), max(e0, b.end))

    def _block_at(self, pid: str, minute: int) -> Block | None:
        return next((b for b in self.base.blocks.get(pid, ()) if b.start <= minute < b.end), None)

    def points(self, i: int, pid: str, blk: Block, part: str) -> int:
        return score(self.preps[i], pid, blk, part, self.tz[blk.location_id], self.w)

    def new_plan(self) -> _Plan:
        free = FreeTime(
            self.base.grid, self.base.blocks, {p: list(v) for p, v in self.base.free.items()}
        )
        patient = {k: list(v) for k, v in self.existing_patient.items()}
        return _Plan(free, patient=patient)

    # -- plan edits -------------------------------------------------------------------------
    def place(self, plan: _Plan, i: int, pl: _Placed) -> None:
        prep = self.preps[i]
        plan.free.book(pl.provider_id, pl.start, pl.start + prep.length)
        plan.at[i] = pl
        plan.by_provider.setdefault(pl.provider_id, set()).add(i)
        span = (pl.start, pl.start + prep.duration, i)
        plan.patient.setdefault(prep.request.patient_id, []).append(span)

    def unplace(self, plan: _Plan, i: int) -> _Placed:
        pl, prep = plan.at.pop(i), self.preps[i]
        plan.free.release(pl.provider_id, pl.start, pl.start + prep.length)
        plan.by_provider[pl.provider_id].discard(i)
        spans = plan.patient[prep.request.patient_id]
        spans.remove((pl.start, pl.start + prep.duration, i))
        return pl

    def patient_busy(self, plan: _Plan, i: int) -> list[tuple[int, int]]:
        return [(s, e) for s, e, _ in plan.patient.get(self.preps[i].request.patient_id, ())]

    # -- objective --------------------------------------------------------------------------
    def provider_objective(self, plan: _Plan, pid: str) -> int:
        """Points placed with `pid` minus its idle and overload penalties."""
        spans: dict[int, list[int]] = {}
        load, pts = self.existing_load.get(pid, 0), 0
        for b in self.base.blocks.get(pid, ()):
            for s, e in self.fixed.get((pid, b.start), ()):
                _widen(spans, b.start, s, e)
        for i in plan.by_provider.get(pid, ()):
            pl, length = plan.at[i], self.preps[i].length
            _widen(spans, pl.block.start, pl.start, pl.start + length)
            load, pts = load + length, pts + pl.points
        idle = sum(hi - lo - busy for lo, hi, busy in spans.values())
        over = max(0, load - self.target.get(pid, 0))
        return pts - self.w.idle_per_minute * idle - self.w.overload_per_minute * over

    def objective(self, plan: _Plan) -> int:
        return sum(self.provider_objective(plan, p) for p in self.base.blocks)


def _widen(spans: dict[int, list[int]], key: int, s: int, e: int) -> None:
    cur = spans.get(key)
    if cur is None:
        spans[key] = [s, e, e - s]
    else:
        cur[0], cur[1], cur[2] = min(cur[0], s), max(cur[1], e), cur[2] + e - s


def _greedy(pb: _Problem, order: list[int] | None = None, lp: dict | None = None) -> _Plan:
    """First-fit when `order` is None: arrival order, earliest start. Otherwise best-fit in
    `order`: highest points, the LP's favourite option first when `lp` is given, then earliest.
    """
    plan = pb.new_plan()
    rank = {p.id: n for n, p in enumerate(pb.clinic.providers)}
    lp = lp or {}
    for i in list(pb.preps) if order is None else order:
        cands = candidate_starts(pb.preps[i], plan.free, pb.patient_busy(plan, i))
        if not cands:
            continue
        if order is None:
            t, pid, blk, part = min(cands, key=lambda c: (c[0], rank[c[1]]))
        else:
            t, pid, blk, part = max(
                cands,
                key=lambda c: (
                    pb.points(i, c[1], c[2], c[3]) + lp.get((i, c[1], c[2].start, c[3]), 0.0),
                    -c[0],
                    -rank[c[1]],
                ),
            )
        pb.place(plan, i, _Placed(pid, t, blk, part, pb.points(i, pid, blk, part)))
    return plan


def _orders(pb: _Problem, taken: dict[int, float]) -> list[list[int]]:
    """Best-fit orders: urgent first; densest (points per grid cell) first; LP-chosen first."""
    preps, g = pb.preps, pb.base.grid
    dense = {i: pb.w.scheduled[p.urgency] / math.ceil(p.length / g) for i, p in preps.items()}
    return [
        sorted(preps, key=lambda i: (-preps[i].urgency, len(preps[i].providers), i)),
        sorted(preps, key=lambda i: (-dense[i], len(preps[i].providers), i)),
        sorted(preps, key=lambda i: (-round(taken.get(i, 0.0), 3), -dense[i], i)),
    ]


def upper_bound(
    pb: _Problem, time_limit: float = 5.0
) -> tuple[float, dict[int, float], dict[tuple, float]]:
    """LP bound (points): relaxes placement to fractions of free grid cells per interval.

    Also returns, per request index, the fraction the LP places, and the LP's per-option
    weight (scaled to points) that best-fit uses to break ties towards the LP's choice.
    """
    solver = pywraplp.Solver.CreateSolver("GLOP")
    g = pb.base.grid
    rows: dict[tuple[str, int], pywraplp.Constraint] = {}
    obj = solver.Objective()
    trivial = 0.0
    cols: list[tuple[int, tuple, pywraplp.Variable]] = []
    stop = clock.perf_counter() + time_limit
    for i, prep in pb.preps.items():
        if clock.perf_counter() > stop:  # too big to relax in time: fall back to a weak bound
            return math.fsum(_best_points(pb, j) for j in pb.preps), {}, {}
        cells = math.ceil(prep.length / g)
        row = solver.Constraint(0, 1)
        best = 0
        for t, pid, blk, part in candidate_starts(prep, pb.base):
            a, b = next((a, b) for a, b, _ in pb.base.intervals(pid, t, t + 1))
            key = (pid, a)
            if key not in rows:
                room = (pb.base.align_up(b, blk) - pb.base.align_up(a, blk)) // g
                rows[key] = solver.Constraint(0, room)
            var = solver.NumVar(0, 1, "")
            row.SetCoefficient(var, 1)
            rows[key].SetCoefficient(var, cells)
            pts = pb.points(i, pid, blk, part)
            obj.SetCoefficient(var, pts)
            cols.append((i, (i, pid, blk.start, part), var))
            best = max(best, pts)
        trivial += best
    obj.SetMaximization()
    solver.SetTimeLimit(max(1, int((stop - clock.perf_counter()) * 1000)))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return trivial, {}, {}
    taken: dict[int, float] = {}
    pull: dict[tuple, float] = {}
    for i, key, var in cols:
        x = var.solution_value()
        if x > 1e-6:
            taken[i] = taken.get(i, 0.0) + x
            pull[key] = 50.0 * x  # less than any real preference step (100 points)
    # GLOP works in floating point; a hair of slack keeps the bound a bound.
    return min(trivial, obj.Value() * (1 + 1e-7) + 1e-6), taken, pull


def _best_points(pb: _Problem, i: int) -> int:
    opts = candidate_starts(pb.preps[i], pb.base)
    return max((pb.points(i, pid, blk, part) for _, pid, blk, part in opts), default=0)


def _result(
    pb: _Problem, plan: _Plan, method: str, bound: float, began: float, status: str, iters: int
) -> OptimizationResult:
    objective = pb.objective(plan) if pb.preps else 0
    reasons = dict(pb.reasons)
    assignments = []
    for i, prep in pb.preps.items():
        pl = plan.at.get(i)
        if pl is None:
            reasons[prep.request.id] = (
                "not scheduled: no free time with an eligible provider in the window"
                if not candidate_starts(prep, pb.base)
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
    pb = _Problem(clinic, requests, weights)
    bound = upper_bound(pb)[0] if with_bound else math.inf
    return _result(pb, _greedy(pb), "first_fit", bound, began, "feasible", 0)


def optimize(
    clinic: Clinic,
    requests: Sequence[BookingRequest],
    weights: Weights = DEFAULT_WEIGHTS,
    time_limit: float = 10.0,
    seed: int = 0,
    work_limit: float | None = None,
) -> OptimizationResult:
    """Best schedule found: greedy, then LNS until `work_limit` or `time_limit` (seconds).

    `work_limit` is in CP-SAT deterministic-time units (default: calibrated to use about the
    time limit on a 2-core machine); it, not the clock, decides when the search stops.
    """
    began = clock.perf_counter()
    deadline = began + time_limit
    pb = _Problem(clinic, requests, weights)
    if not pb.preps:
        return _result(pb, pb.new_plan(), "optimizer", 0.0, began, "empty", 0)
    bound, taken, pull = upper_bound(pb, time_limit=max(0.5, time_limit / 4))
    orders = _orders(pb, taken)
    runs = [(order, pull) for order in orders] + [(orders[1], None)]
    plan = _greedy(pb)
    best, capped = pb.objective(plan), False
    for order, lp in runs:
        if clock.perf_counter() > began + time_limit / 2:
            capped = True  # huge instance: fewer greedy variants (wall-clock dependent)
            break
        other = _greedy(pb, order, lp)
        if pb.objective(other) > best:
            plan, best = other, pb.objective(other)
    budget = WORK_PER_SECOND * time_limit if work_limit is None else work_limit
    iters, cut = improve(pb, plan, random.Random(seed), budget, deadline, bound)
    capped = capped or cut
    return _result(pb, plan, "optimizer", bound, began, "time_cap" if capped else "feasible", iters)


# -- large-neighbourhood search ---------------------------------------------------------------
def improve(
    pb: _Problem, plan: _Plan, rng: random.Random, budget: float, deadline: float, bound: float
) -> tuple[int, bool]:
    """Repair random neighbourhoods until `budget` work units are spent; edits `plan` in place.

    Returns (iterations, whether the wall-clock deadline cut the search short).
    """
    keys = sorted(pb.pdays)
    days: dict[int, list[str]] = {}
    for p, d in keys:
        days.setdefault(d, []).append(p)
    day_list = sorted(days)
    size, spent, iters = 3, 0.0, 0
    current = pb.objective(plan)
    while spent < budget and current < bound - 0.5:
        if clock.perf_counter() >= deadline:
            return iters, True
        nb = _neighbourhood(pb, plan, rng, size, keys, days, day_list)
        det, optimal, delta, n_opts = _repair(pb, plan, nb, rng, deadline)
        current += delta
        # Each step costs its deterministic time plus a charge per optional interval for
        # building and loading the model, which CP-SAT's deterministic time does not count.
        spent += det + OPTION_WORK * n_opts
        iters += 1
        size = min(size + 1, 6) if optimal else max(2, size - 1)
    return iters, False


def _neighbourhood(
    pb: _Problem,
    plan: _Plan,
    rng: random.Random,
    size: int,
    keys: list[tuple[str, int]],
    days: dict[int, list[str]],
    day_list: list[int],
) -> set[tuple[str, int]]:
    """Provider-days to free: an unplaced request's options, a day, or one provider's run."""
    mode = rng.random()
    unplaced = [i for i in pb.preps if i not in plan.at]
    if mode < 0.4 and unplaced:
        i = rng.choice(unplaced)
        prep = pb.preps[i]
        opts = sorted({(pid, blk.day) for _, pid, blk, _ in candidate_starts(prep, pb.base)})
        if opts:
            return set(rng.sample(opts, min(size, len(opts))))
    if mode < 0.8:
        d = rng.choice(day_list)
        pids = days[d]
        return {(p, d) for p in rng.sample(pids, min(size, len(pids)))}
    p, d = rng.choice(keys)
    return {(p, d + k) for k in range(-size // 2, size - size // 2) if (p, d + k) in pb.pdays}


def _repair(
    pb: _Problem, plan: _Plan, nb: set[tuple[str, int]], rng: random.Random, deadline: float
) -> tuple[float, bool, int, int]:
    """Re-place everything on provider-days `nb` (plus some unplaced requests) with CP-SAT.

    Returns (deterministic time used, whether CP-SAT proved its sub-problem optimal, change in
    the objective, number of optional intervals). The plan changes only when the exact
    objective does not drop.
    """
    provs = sorted({p for p, _ in nb})
    before = sum(pb.provider_objective(plan, p) for p in provs)
    freed = sorted(
        i for p in provs for i in plan.by_provider.get(p, ()) if (p, plan.at[i].block.day) in nb
    )
    old = {i: pb.unplace(plan, i) for i in freed}
    spans = [pb.pdays[k] for k in sorted(nb)]
    lo_nb, hi_nb = min(s for s, _ in spans), max(e for _, e in spans)
    extra = [
        i
        for i, prep in pb.preps.items()
        if i not in plan.at
        and i not in old
        and prep.lo < hi_nb
        and prep.hi > lo_nb
        and any(p in nb_p for p in prep.providers for nb_p in (provs,))
    ]
    # Favour dense requests (points per blocked minute) but keep some chance for every one.
    extra.sort(
        key=lambda i: -pb.w.scheduled[pb.preps[i].urgency] / pb.preps[i].length * rng.random()
    )
    cands = freed + extra[:MAX_EXTRA]

    m = cp_model.CpModel()
    terms: list = []
    per_prov: dict[str, list] = {}
    per_block: dict[tuple[str, int], tuple[Block, list]] = {}
    per_patient: dict[str, list] = {}
    chosen: list[tuple[int, str, Block, str, cp_model.IntVar, cp_model.IntVar]] = []
    w = pb.w
    for i in cands:
        prep = pb.preps[i]
        busy = pb.patient_busy(plan, i)
        groups: dict[tuple[str, int, str], tuple[Block, list[int]]] = {}
        for pid in prep.providers:
            if pid not in provs:
                continue
            for a, b, blk in plan.free.intervals(pid, prep.lo, prep.hi):
                if (pid, blk.day) not in nb or (
                    prep.request.location_id not in (None, blk.location_id)
                ):
                    continue
                t = plan.free.align_up(max(a, prep.lo), blk)
                last = min(b - prep.length, prep.hi - prep.duration)
                while t <= last:
                    if not any(s < t + prep.duration and t < e for s, e in busy):
                        part = blk.part_of_day(t)
                        groups.setdefault((pid, blk.start, part), (blk, []))[1].append(t)
                    t += plan.free.grid
        pres_all = []
        hint = old.get(i)
        for (pid, _, part), (blk, starts) in groups.items():
            pres = m.new_bool_var("")
            start = m.new_int_var_from_domain(cp_model.Domain.from_values(starts), "")
            per_prov.setdefault(pid, []).append(
                m.new_optional_fixed_size_interval_var(start, prep.length, pres, "")
            )
            owners, ivs = per_patient.setdefault(prep.request.patient_id, (set(), []))
            owners.add(i)
            ivs.append(m.new_optional_fixed_size_interval_var(start, prep.duration, pres, ""))
            per_block.setdefault((pid, blk.start), (blk, []))[1].append((start, pres, prep.length))
            pts = pb.points(i, pid, blk, part)
            terms.append((pts + w.idle_per_minute * prep.length) * pres)
            pres_all.append(pres)
            chosen.append((i, pid, blk, part, pres, start))
            on = (
                hint is not None
                and hint.provider_id == pid
                and hint.block is blk
                and hint.part == part
            )
            m.add_hint(pres, on)
            if on:
                m.add_hint(start, hint.start)
        if len(pres_all) > 1:
            m.add_at_most_one(pres_all)
    for ivs in per_prov.values():
        if len(ivs) > 1:
            m.add_no_overlap(ivs)
    for owners, ivs in per_patient.values():
        if len(owners) > 1:  # one request's own options already exclude each other
            m.add_no_overlap(ivs)
    for blk, items in per_block.values():
        lo, hi = m.new_int_var(blk.start, blk.end, ""), m.new_int_var(blk.start, blk.end, "")
        m.add(lo <= hi)
        fixed = list(pb.fixed.get((blk.provider_id, blk.start), ())) + [
            (plan.at[j].start, plan.at[j].start + pb.preps[j].length)
            for j in plan.by_provider.get(blk.provider_id, ())
            if plan.at[j].block is blk
        ]
        if fixed:
            m.add(lo <= min(s for s, _ in fixed))
            m.add(hi >= max(e for _, e in fixed))
        for start, pres, length in items:
            m.add(lo <= start).only_enforce_if(pres)
            m.add(hi >= start + length).only_enforce_if(pres)
        terms.append(-w.idle_per_minute * (hi - lo))
    for pid in provs:
        lens = [(pres, pb.preps[i].length) for i, p, _, _, pres, _ in chosen if p == pid]
        fixed_load = pb.existing_load.get(pid, 0) + sum(
            pb.preps[j].length for j in plan.by_provider.get(pid, ())
        )
        over = m.new_int_var(0, 10**7, "")
        m.add(over >= fixed_load + sum(ln * pr for pr, ln in lens) - pb.target.get(pid, 0))
        terms.append(-w.overload_per_minute * over)
    m.maximize(sum(terms))

    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.num_workers, prm.random_seed = 1, rng.randrange(1 << 30)
    prm.cp_model_probing_level, prm.symmetry_level = 0, 0
    prm.max_deterministic_time = REPAIR_WORK
    prm.max_time_in_seconds = max(0.01, deadline - clock.perf_counter())
    status = solver.solve(m)
    det = solver.deterministic_time
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for i, pid, blk, part, pres, start in chosen:
            if solver.value(pres):
                t = solver.value(start)
                pb.place(plan, i, _Placed(pid, t, blk, part, pb.points(i, pid, blk, part)))
        after = sum(pb.provider_objective(plan, p) for p in provs)
        if after >= before:
            return det, status == cp_model.OPTIMAL, after - before, len(chosen)
        for i in [i for i in cands if i in plan.at]:
            pb.unplace(plan, i)
    for i, pl in old.items():
        pb.place(plan, i, pl)
    return det, status == cp_model.OPTIMAL, 0, len(chosen)


__all__ = ["Assignment", "OptimizationResult", "first_fit", "optimize", "upper_bound"]

"""The batch problem behind `scheduling.optimizer`: resolved requests, a mutable plan, greedy.

Internal to the optimiser (`lns` and `lp_bound` share it). Each request's *options* (provider,
working block, part of day, the range of grid starts the window allows, and the points) are
computed once; a greedy or a repair then only asks the current free time for the earliest start
inside an option, instead of re-enumerating every provider and interval per request.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

from scheduling.slots import Block, Clinic, FreeTime, from_minute, to_minute
from scheduling.suggest import (
    BookingRequest,
    Prepared,
    SchedulingInfeasible,
    Weights,
    prepare,
    score,
)

_END = operator.itemgetter(1)  # end of a free interval (start, end, block)


@dataclass(frozen=True)
class Option:
    """Request may start with `pid` in `block` during `part` at grid starts in [lo, hi]."""

    pid: str
    block: Block
    part: str
    lo: int
    hi: int
    points: int
    rank: int  # provider's position in the clinic list (first-fit tie-break)


@dataclass
class Placed:
    provider_id: str
    start: int
    block: Block
    part: str
    points: int


@dataclass
class Plan:
    free: FreeTime
    at: dict[int, Placed] = field(default_factory=dict)
    by_provider: dict[str, set[int]] = field(default_factory=dict)
    patient: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    load: dict[str, int] = field(default_factory=dict)  # requested minutes per provider
    members: dict[tuple[str, int], set[int]] = field(default_factory=dict)  # per block


class Problem:
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
        self.rank = {p.id: n for n, p in enumerate(clinic.providers)}
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
        self.block_starts = {p: [b.start for b in bs] for p, bs in self.base.blocks.items()}
        self.parts = {
            (p, b.start): list(b.part_ranges()) for p, bs in self.base.blocks.items() for b in bs
        }
        # (provider, block start) -> free intervals of the clinic before any request
        self.block_free: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for p, ivs in self.base.free.items():
            for a, b, blk in ivs:
                self.block_free.setdefault((p, blk.start), []).append((a, b))
        self.options = {i: self._options(i) for i in self.preps}
        # options best first (points, then earliest, then the clinic's provider order)
        self.ranked = {
            i: sorted(opts, key=lambda o: (-o.points, o.lo, o.rank))
            for i, opts in self.options.items()
        }

    def _block_at(self, pid: str, minute: int) -> Block | None:
        return next((b for b in self.base.blocks.get(pid, ()) if b.start <= minute < b.end), None)

    def _options(self, i: int) -> list[Option]:
        """Every (provider, block, part of day) the window allows, scored as `score` does."""
        prep, out, g, w = self.preps[i], [], self.base.grid, self.w
        req = prep.request
        loc, days, times = req.location_id, req.preferred_weekdays, req.preferred_times
        span = max(1, (prep.hi - prep.lo) // 1440)
        soon = w.soon * (prep.urgency - 1) if prep.urgency > 1 else 0
        for pid in prep.providers:
            base_pts = w.scheduled[prep.urgency]
            base_pts += w.continuity if req.usual_provider_id == pid else 0
            rank = self.rank[pid]
            blocks = self.base.blocks.get(pid, [])
            k = max(0, bisect.bisect_left(self.block_starts[pid], prep.lo) - 1)
            for blk in blocks[k:]:
                if blk.start >= prep.hi:
                    break
                if blk.end <= prep.lo or (loc is not None and blk.location_id != loc):
                    continue
                last = min(blk.end - prep.length, prep.hi - prep.duration)
                pts_day = base_pts + (w.weekday if not days or blk.weekday in days else 0)
                if soon:
                    first = prep.first_day.get(self.tz[blk.location_id], blk.day)
                    late = min(span, max(0, blk.day - first))
                    pts_day += soon * (span - late) // span
                for part, p_lo, p_hi in self.parts[(pid, blk.start)]:
                    m = max(p_lo, prep.lo)
                    t = m + (blk.phase - m) % g
                    stop = min(last, p_hi - 1)
                    stop -= (stop - blk.phase) % g
                    if t <= stop:
                        pts = pts_day + (w.part_of_day if not times or part in times else 0)
                        out.append(Option(pid, blk, part, t, stop, pts, rank))
        return out

    def earliest(
        self, free: FreeTime, i: int, o: Option, busy: Sequence[tuple[int, int]]
    ) -> int | None:
        """Earliest grid start of option `o` that is free and clear of the patient's `busy`."""
        prep = self.preps[i]
        length, dur, g = prep.length, prep.duration, free.grid
        blk, lo, hi = o.block, o.lo, o.hi
        ivs = free.free.get(o.pid, ())
        # the hot loop of every search: `free.intervals` inlined, first interval ending after lo
        for k in range(bisect.bisect_right(ivs, lo, key=_END), len(ivs)):
            a, b, in_blk = ivs[k]
            if a > hi:
                break
            if in_blk is not blk:
                continue
            t = max(a, lo)
            t += (blk.phase - t) % g
            last = min(b - length, hi)
            while t <= last:
                if not any(s < t + dur and t < e for s, e in busy):
                    return t
                t += g
        return None

    def points(self, i: int, pid: str, blk: Block, part: str) -> int:
        return score(self.preps[i], pid, blk, part, self.tz[blk.location_id], self.w)

    def new_plan(self) -> Plan:
        free = FreeTime(
            self.base.grid, self.base.blocks, {p: list(v) for p, v in self.base.free.items()}
        )
        patient = {k: list(v) for k, v in self.existing_patient.items()}
        return Plan(free, patient=patient)

    # -- plan edits -------------------------------------------------------------------------
    def place(self, plan: Plan, i: int, pl: Placed) -> None:
        prep = self.preps[i]
        plan.free.book(pl.provider_id, pl.start, pl.start + prep.length)
        plan.at[i] = pl
        plan.by_provider.setdefault(pl.provider_id, set()).add(i)
        plan.load[pl.provider_id] = plan.load.get(pl.provider_id, 0) + prep.length
        plan.members.setdefault((pl.provider_id, pl.block.start), set()).add(i)
        span = (pl.start, pl.start + prep.duration, i)
        plan.patient.setdefault(prep.request.patient_id, []).append(span)

    def unplace(self, plan: Plan, i: int) -> Placed:
        pl, prep = plan.at.pop(i), self.preps[i]
        plan.free.release(pl.provider_id, pl.start, pl.start + prep.length)
        plan.by_provider[pl.provider_id].discard(i)
        plan.load[pl.provider_id] -= prep.length
        plan.members[(pl.provider_id, pl.block.start)].discard(i)
        spans = plan.patient[prep.request.patient_id]
        spans.remove((pl.start, pl.start + prep.duration, i))
        return pl

    def patient_busy(self, plan: Plan, i: int) -> list[tuple[int, int]]:
        return [(s, e) for s, e, _ in plan.patient.get(self.preps[i].request.patient_id, ())]

    # -- objective --------------------------------------------------------------------------
    def provider_objective(self, plan: Plan, pid: str) -> int:
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

    def local(self, plan: Plan, keys: set[tuple[str, int]]) -> int:
        """Objective restricted to blocks `keys` (provider, block start) and their providers'
        overload: differences of it equal differences of `objective` for edits inside `keys`."""
        total, w = 0, self.w
        for key in keys:
            lo = hi = None
            busy = 0
            for s, e in self.fixed.get(key, ()):
                lo = s if lo is None else min(lo, s)
                hi = e if hi is None else max(hi, e)
                busy += e - s
            for i in plan.members.get(key, ()):
                pl, length = plan.at[i], self.preps[i].length
                lo = pl.start if lo is None else min(lo, pl.start)
                hi = pl.start + length if hi is None else max(hi, pl.start + length)
                busy += length
                total += pl.points
            if lo is not None:
                total -= w.idle_per_minute * (hi - lo - busy)
        for pid in {p for p, _ in keys}:
            load = self.existing_load.get(pid, 0) + plan.load.get(pid, 0)
            total -= w.overload_per_minute * max(0, load - self.target.get(pid, 0))
        return total

    def objective(self, plan: Plan) -> int:
        return sum(self.provider_objective(plan, p) for p in self.base.blocks)


def _widen(spans: dict[int, list[int]], key: int, s: int, e: int) -> None:
    cur = spans.get(key)
    if cur is None:
        spans[key] = [s, e, e - s]
    else:
        cur[0], cur[1], cur[2] = min(cur[0], s), max(cur[1], e), cur[2] + e - s


def first_fit_plan(pb: Problem) -> Plan:
    """Arrival order, each request at its earliest feasible start (ties: provider order)."""
    plan = pb.new_plan()
    for i in pb.preps:
        busy, best = pb.patient_busy(plan, i), None
        for o in sorted(pb.options[i], key=lambda o: (o.lo, o.rank)):
            if best is not None and (o.lo, o.rank) > best[:2]:
                break
            t = pb.earliest(plan.free, i, o, busy)
            if t is not None and (best is None or (t, o.rank) < best[:2]):
                best = (t, o.rank, o)
        if best is not None:
            t, _, o = best
            pb.place(plan, i, Placed(o.pid, t, o.block, o.part, o.points))
    return plan


def ranked_by(pb: Problem, pull: dict | None) -> dict[int, list[Option]]:
    """Each request's options best first: points plus the LP's `pull` towards its own choice,
    ties to the earliest option, then the clinic's provider order."""
    if not pull:
        return pb.ranked
    return {
        i: sorted(
            opts,
            key=lambda o, i=i: (
                -(o.points + pull.get((i, o.pid, o.block.start, o.part), 0.0)),
                o.lo,
                o.rank,
            ),
        )
        for i, opts in pb.options.items()
    }


def best_fit_plan(
    pb: Problem, order: list[int], pull: dict | None = None, ranked: dict | None = None
) -> Plan:
    """Requests in `order`, each at its first feasible option in `ranked` (default
    `ranked_by(pb, pull)`: highest-valued, plus the LP's pull)."""
    plan = pb.new_plan()
    ranked = ranked if ranked is not None else ranked_by(pb, pull)
    for i in order:
        busy = pb.patient_busy(plan, i)
        for o in ranked[i]:
            t = pb.earliest(plan.free, i, o, busy)
            if t is not None:
                pb.place(plan, i, Placed(o.pid, t, o.block, o.part, o.points))
                break
    return plan


def orders(pb: Problem, taken: dict[int, float]) -> list[list[int]]:
    """Best-fit orders: urgent first; densest (points per grid cell) first; LP-chosen first."""
    preps, g = pb.preps, pb.base.grid
    dense = {i: pb.w.scheduled[p.urgency] / math.ceil(p.length / g) for i, p in preps.items()}
    return [
        sorted(preps, key=lambda i: (-preps[i].urgency, len(preps[i].providers), i)),
        sorted(preps, key=lambda i: (-dense[i], len(preps[i].providers), i)),
        sorted(preps, key=lambda i: (-round(taken.get(i, 0.0), 3), -dense[i], i)),
    ]

"""Back-fill a freed slot from the waitlist, optionally pulling a later appointment forward.

When an appointment is cancelled, `backfill` ranks what could use the freed time:

* a direct fill: a waitlist request that fits the free stretch now containing the slot, worth
  its `scheduling.suggest.score` points;
* a two-step chain: a later appointment of the same provider moves into the freed stretch
  (worth the change in its points, e.g. sooner for an urgent patient) and a waitlist request
  takes the slot it leaves. Offered only when the chain is worth more than zero.

Everything is enumeration over one provider's free time, so a call takes milliseconds.
`clinic.appointments` must already exclude the cancelled appointment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from scheduling.slots import Clinic, ExistingAppointment, FreeTime, from_minute, to_minute
from scheduling.suggest import (
    DEFAULT_WEIGHTS,
    BookingRequest,
    Prepared,
    SchedulingInfeasible,
    Weights,
    explain,
    prepare,
    score,
)


@dataclass(frozen=True)
class Move:
    """Put `request_id` with `provider_id` at [start, end) (aware UTC, buffer excluded)."""

    request_id: str
    provider_id: str
    location_id: str
    start: datetime
    end: datetime
    appointment_id: str | None = None  # set when an existing appointment is moved


@dataclass(frozen=True)
class BackfillOption:
    moves: tuple[Move, ...]
    gain: int  # objective points gained
    reason: str


@dataclass(frozen=True)
class BackfillResult:
    """Best first; `blocked_reason` says why `options` is empty."""

    options: tuple[BackfillOption, ...]
    blocked_reason: str | None = None


def _one_provider(clinic: Clinic, provider_id: str) -> Clinic:
    return replace(
        clinic,
        providers=[p for p in clinic.providers if p.id == provider_id],
        working_hours=[h for h in clinic.working_hours if h.provider_id == provider_id],
        time_off=[t for t in clinic.time_off if t.provider_id == provider_id],
        appointments=[a for a in clinic.appointments if a.provider_id == provider_id],
    )


def _best_fill(
    preps: list[Prepared], free: FreeTime, pid: str, at: int, busy: dict[str, list], tzs, w
) -> tuple[int, Prepared, int, object, str] | None:
    """Best (points, prep, start, block, part) for the free stretch of `pid` containing `at`."""
    ivs = free.intervals(pid, at, at + 1)
    if not ivs:
        return None
    a, b, blk = ivs[0]
    best = None
    for prep in preps:
        if pid not in prep.providers or prep.lo >= b or prep.hi <= a:
            continue
        mine = busy.get(prep.request.patient_id, ())
        t = free.align_up(max(a, prep.lo), blk)
        last = min(b - prep.length, prep.hi - prep.duration)
        while t <= last:
            if not any(s < t + prep.duration and t < e for s, e in mine):
                part = blk.part_of_day(t)
                pts = score(prep, pid, blk, part, tzs[blk.location_id], w)
                if best is None or pts > best[0]:
                    best = (pts, prep, t, blk, part)
            t += free.grid
    return best


def backfill(
    clinic: Clinic,
    freed: ExistingAppointment,
    waitlist: Sequence[BookingRequest],
    movable: Sequence[tuple[BookingRequest, ExistingAppointment]] = (),
    k: int = 5,
    weights: Weights = DEFAULT_WEIGHTS,
) -> BackfillResult:
    """Rank ways to use the time `freed` leaves with its provider.

    `movable` pairs later appointments (of any provider; only the freed one's are used) with
    the request they were booked for, so their points can be recomputed at a new time.
    """
    pid = freed.provider_id
    if not any(p.id == pid for p in clinic.providers):
        return BackfillResult((), f"unknown provider {pid!r}")
    mine = _one_provider(clinic, pid)
    later = [(r, a) for r, a in movable if a.provider_id == pid and a.start > freed.start]
    horizon_end = max([freed.end] + [a.end for _, a in later]) + timedelta(days=1)
    free = FreeTime.build(mine, freed.start - timedelta(days=1), horizon_end)
    tzs = {loc.id: loc.tz for loc in clinic.locations}
    names = {p.id: p for p in clinic.providers}
    busy: dict[str, list[tuple[int, int]]] = {}
    for a in clinic.appointments:
        if a.patient_id is not None:
            busy.setdefault(a.patient_id, []).append((to_minute(a.start), to_minute(a.end)))
    preps = []
    for r in waitlist:
        try:
            preps.append(prepare(r, mine))
        except (SchedulingInfeasible, ValueError):
            continue
    at = to_minute(freed.start)
    options: list[BackfillOption] = []
    # Direct fills, one per waitlist request (its best start in the freed stretch).
    ivs = free.intervals(pid, at, at + 1)
    if not ivs:
        return BackfillResult((), "the freed time is not bookable (outside working hours?)")
    for prep in preps:
        best = _best_fill([prep], free, pid, at, busy, tzs, weights)
        if best is not None:
            pts, _, t, blk, part = best
            move = _move(prep, pid, blk.location_id, t)
            reason = "fills the freed slot " + explain(prep, names[pid], blk, part)
            options.append(BackfillOption((move,), pts, reason))
    # Chains: a later appointment moves into the stretch, a waitlist request takes its place.
    for req, appt in later:
        try:
            prep = prepare(req, mine)
        except (SchedulingInfeasible, ValueError):
            continue
        old_t = to_minute(appt.start)
        old_blk = next((b for b in free.blocks.get(pid, ()) if b.start <= old_t < b.end), None)
        if old_blk is None:
            continue
        old_pts = score(prep, pid, old_blk, old_blk.part_of_day(old_t), tzs[old_blk.location_id])
        others = {
            p: [s for s in spans if s != (old_t, to_minute(appt.end))] for p, spans in busy.items()
        }
        pulled = _best_fill([prep], free, pid, at, others, tzs, weights)
        if pulled is None or pulled[2] >= old_t:
            continue
        pts, _, t, blk, part = pulled
        trial = FreeTime(free.grid, free.blocks, {pid: list(free.free[pid])})
        trial.book(pid, t, t + prep.length)
        trial.release(pid, old_t, to_minute(appt.end) + appt.buffer_after)
        fill = _best_fill(preps, trial, pid, old_t, busy, tzs, weights)
        gain = pts - old_pts + (fill[0] if fill else 0)
        if fill is None or gain <= 0:
            continue
        f_pts, f_prep, f_t, f_blk, f_part = fill
        moves = (
            replace(_move(prep, pid, blk.location_id, t), appointment_id=appt.id),
            _move(f_prep, pid, f_blk.location_id, f_t),
        )
        reason = f"moves {req.id} earlier to the freed slot, then fills its old time " + explain(
            f_prep, names[pid], f_blk, f_part
        )
        options.append(BackfillOption(moves, gain, reason))
    options.sort(key=lambda o: (-o.gain, o.moves[0].start, o.moves[0].request_id))
    if not options:
        return BackfillResult((), "no waitlist request fits the freed time")
    return BackfillResult(tuple(options[: max(0, k)]))


def _move(prep: Prepared, pid: str, location_id: str, t: int) -> Move:
    return Move(prep.request.id, pid, location_id, from_minute(t), from_minute(t + prep.duration))

"""Interactive top-k slot suggestions for one booking request, and the shared scoring.

`score` is the single definition of what a placement is worth; the batch optimiser
(`scheduling.optimizer`) and back-fill (`scheduling.backfill`) use the same numbers, so the front
desk sees the same priorities everywhere.

Within one working block and one part of day (morning < 12:00 <= afternoon < 17:00 <= evening,
local time) a request's score is the same for every start, so the best start of such a stretch is
its earliest one. Suggestions therefore enumerate the free stretches, score the earliest
feasible start of each, and return the k best: at most one per provider, block and part of day,
which also keeps the list varied rather than five starts five minutes apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from scheduling.slots import (
    PARTS_OF_DAY,
    AppointmentType,
    Block,
    Clinic,
    FreeTime,
    Provider,
    from_minute,
    to_minute,
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class SchedulingInfeasible(Exception):  # noqa: N818 - the name says what the front desk sees
    """A request that cannot be placed; `reason` is a sentence for staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BookingRequest:
    """What a patient asks for. Window times are aware datetimes; the visit must fit inside.

    `providers` limits the choice (None = anyone with the type's and request's `specialty`);
    `preferred_weekdays` uses 0=Monday; `preferred_times` holds parts of day ("morning",
    "afternoon", "evening"); `urgency` runs 1 (routine) to 5 (urgent).
    """

    id: str
    patient_id: str
    type_id: str
    window_start: datetime
    window_end: datetime
    providers: frozenset[str] | None = None
    specialty: str | None = None
    preferred_weekdays: frozenset[int] = frozenset()
    preferred_times: frozenset[str] = frozenset()
    urgency: int = 3
    usual_provider_id: str | None = None
    location_id: str | None = None


@dataclass(frozen=True)
class Weights:
    """Points of the objective. `scheduled[u]` is the worth of placing an urgency-u request.

    A preference left empty counts as satisfied, so stating one never lowers a request's
    priority. `soon` is per urgency step above 1 and shrinks linearly over the window's days.
    `idle_per_minute` and `overload_per_minute` are the batch optimiser's penalties (minutes).
    """

    scheduled: tuple[int, ...] = (0, 1000, 1300, 1700, 2400, 3500)
    weekday: int = 100
    part_of_day: int = 100
    continuity: int = 150
    soon: int = 60
    idle_per_minute: int = 1
    overload_per_minute: int = 1


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class Prepared:
    """A request resolved against the clinic: minutes, lengths and eligible providers."""

    request: BookingRequest
    type: AppointmentType
    lo: int  # window start, epoch minutes
    hi: int  # window end, epoch minutes
    duration: int  # minutes the patient is in the room
    length: int  # minutes the provider is blocked (duration + buffer)
    providers: tuple[str, ...]
    urgency: int
    first_day: dict[str, int]  # tz name -> local date ordinal of the window start


def prepare(
    request: BookingRequest,
    clinic: Clinic,
    types: Mapping[str, AppointmentType] | None = None,
    free: FreeTime | None = None,
) -> Prepared:
    """Resolve a request, or raise `SchedulingInfeasible` saying why it can never be placed."""
    types = types if types is not None else {t.id: t for t in clinic.appointment_types}
    atype = types.get(request.type_id)
    if atype is None:
        raise SchedulingInfeasible(f"unknown appointment type {request.type_id!r}")
    lo, hi = to_minute(request.window_start), to_minute(request.window_end)
    if hi - lo < atype.duration:
        raise SchedulingInfeasible(f"the date window is too short for a {atype.name}")
    wanted = {atype.specialty, request.specialty} - {None}
    eligible = [
        p.id
        for p in clinic.providers
        if (request.providers is None or p.id in request.providers) and wanted <= p.specialties
    ]
    if request.location_id is not None and free is not None:
        at_location = {
            pid
            for pid in eligible
            for b in free.blocks.get(pid, ())
            if b.location_id == request.location_id
        }
        eligible = [pid for pid in eligible if pid in at_location]
    if not eligible:
        need = " and ".join(sorted(wanted)) or "the requested"
        raise SchedulingInfeasible(f"no provider with {need} skills is eligible for this request")
    first_day = {
        loc.tz: request.window_start.astimezone(ZoneInfo(loc.tz)).date().toordinal()
        for loc in clinic.locations
    }
    urgency = min(5, max(1, int(request.urgency)))
    return Prepared(
        request,
        atype,
        lo,
        hi,
        atype.duration,
        atype.duration + atype.buffer_after,
        tuple(eligible),
        urgency,
        first_day,
    )


def score(
    prep: Prepared,
    provider_id: str,
    block: Block,
    part: str,
    tz: str,
    weights: Weights = DEFAULT_WEIGHTS,
) -> int:
    """Points for placing `prep` with `provider_id` in `block` during `part` of the day."""
    req = prep.request
    points = weights.scheduled[prep.urgency]
    if not req.preferred_weekdays or block.weekday in req.preferred_weekdays:
        points += weights.weekday
    if not req.preferred_times or part in req.preferred_times:
        points += weights.part_of_day
    if req.usual_provider_id == provider_id:
        points += weights.continuity
    if prep.urgency > 1:
        span = max(1, (prep.hi - prep.lo) // 1440)
        late = min(span, max(0, block.day - prep.first_day.get(tz, block.day)))
        points += weights.soon * (prep.urgency - 1) * (span - late) // span
    return points


def explain(
    prep: Prepared, provider: Provider, block: Block, part: str, earliest: bool = False
) -> str:
    """Short reason for staff and patients, e.g. 'earliest with Dr Ortiz, your usual ...'."""
    req = prep.request
    bits = [("earliest with " if earliest else "with ") + provider.name]
    if req.usual_provider_id == provider.id:
        bits.append("your usual provider")
    when = f"{WEEKDAYS[block.weekday]} {part}"
    liked = (not req.preferred_weekdays or block.weekday in req.preferred_weekdays) and (
        not req.preferred_times or part in req.preferred_times
    )
    stated = bool(req.preferred_weekdays or req.preferred_times)
    bits.append(when + (" as you prefer" if liked and stated else ""))
    if prep.urgency >= 4 and earliest:
        bits.append("soonest for an urgent need")
    return ", ".join(bits)


@dataclass(frozen=True)
class Suggestion:
    provider_id: str
    location_id: str
    start: datetime  # aware UTC
    end: datetime  # aware UTC, start + duration (buffer excluded)
    score: int
    reason: str


@dataclass(frozen=True)
class SuggestionResult:
    """Best first. `blocked_reason` is set (and `suggestions` empty) when nothing fits."""

    suggestions: tuple[Suggestion, ...]
    blocked_reason: str | None = None

    def raise_if_blocked(self) -> SuggestionResult:
        if self.blocked_reason is not None:
            raise SchedulingInfeasible(self.blocked_reason)
        return self


def candidate_starts(
    prep: Prepared, free: FreeTime, busy_patient: Sequence[tuple[int, int]] = ()
) -> list[tuple[int, str, Block, str]]:
    """Earliest feasible start per (provider, free interval, part of day) in the window.

    Returns (start, provider_id, block, part) tuples. `busy_patient` are the patient's own
    appointments (epoch-minute pairs) that a new visit must not overlap.
    """
    req, out = prep.request, []
    for pid in prep.providers:
        for a, b, blk in free.intervals(pid, prep.lo, prep.hi):
            if req.location_id is not None and blk.location_id != req.location_id:
                continue
            last = min(b - prep.length, prep.hi - prep.duration)
            for part, p_lo, p_hi in blk.part_ranges():
                t = free.align_up(max(a, prep.lo, p_lo), blk)
                stop = min(last, p_hi - 1)
                while t <= stop and any(s < t + prep.duration and t < e for s, e in busy_patient):
                    t += free.grid
                if t <= stop:
                    out.append((t, pid, blk, part))
    return out


def suggest(
    clinic: Clinic,
    request: BookingRequest,
    k: int = 5,
    free: FreeTime | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
) -> SuggestionResult:
    """Top-k starts for `request`, scored with `score`; never raises for a bad request.

    Pass a prebuilt `free` (FreeTime covering the window) to answer many requests quickly.
    """
    try:
        if free is None:
            free = FreeTime.build(clinic, request.window_start, request.window_end)
        prep = prepare(request, clinic, free=free)
    except (SchedulingInfeasible, ValueError, KeyError) as exc:
        return SuggestionResult((), getattr(exc, "reason", None) or f"invalid request: {exc}")
    patient_busy = [
        (to_minute(a.start), to_minute(a.end))
        for a in clinic.appointments
        if a.patient_id is not None and a.patient_id == request.patient_id
    ]
    tzs = {loc.id: loc.tz for loc in clinic.locations}
    names = {p.id: p for p in clinic.providers}
    scored = sorted(
        (-score(prep, pid, blk, part, tzs[blk.location_id], weights), t, pid, blk, part)
        for t, pid, blk, part in candidate_starts(prep, free, patient_busy)
    )
    if not scored:
        return SuggestionResult(
            (), f"no free time for a {prep.type.name} with an eligible provider in the window"
        )
    # "earliest" = nothing as good with the same provider starts sooner.
    soonest: dict[tuple[str, int], int] = {}
    for neg, t, pid, _, _ in scored:
        key = (pid, neg)
        soonest[key] = min(t, soonest.get(key, t))
    out = tuple(
        Suggestion(
            pid,
            blk.location_id,
            from_minute(t),
            from_minute(t + prep.duration),
            -neg,
            explain(
                prep,
                names[pid],
                blk,
                part,
                earliest=all(soonest[(q, n)] >= t for q, n in soonest if q == pid and n <= neg),
            ),
        )
        for neg, t, pid, blk, part in scored[: max(0, k)]
    )
    return SuggestionResult(out)


__all__ = [
    "PARTS_OF_DAY",
    "BookingRequest",
    "Prepared",
    "SchedulingInfeasible",
    "Suggestion",
    "SuggestionResult",
    "Weights",
    "candidate_starts",
    "explain",
    "prepare",
    "score",
    "suggest",
]

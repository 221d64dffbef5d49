"""Free time: when can a provider at a location start an appointment?

Pure slot arithmetic, no Django. The Django layer turns rows into the dataclasses below (a
`Clinic`), and gets plain dataclasses back. Every datetime handed in must be timezone-aware;
every datetime handed out is aware UTC.

Internally a time is an integer number of minutes since 1970-01-01 00:00 UTC ("minute"), so
interval arithmetic is exact and cheap. Working hours are written in the location's local wall
clock (IANA zone, `zoneinfo`) and converted date by date, which is what makes a 09:00-17:00 day
land on the right UTC hours on both sides of a DST change.

Booking rule: an appointment of type T starting at t occupies the provider for
[t, t + duration + buffer_after); that whole stretch must lie in working time, outside breaks,
time off, clinic closures and other bookings (whose buffers count too). Starts lie on a local
grid (5 or 15 minutes) counted from local midnight.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = 1440  # minutes
PARTS_OF_DAY = ("morning", "afternoon", "evening")
NOON, EVENING = time(12), time(17)  # local boundaries between the parts of day


def to_minute(dt: datetime) -> int:
    """Aware datetime -> whole minutes since the Unix epoch (UTC), rounded down."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt!r}: scheduling needs timezone-aware datetimes")
    return int((dt - EPOCH).total_seconds() // 60)


def from_minute(minute: int) -> datetime:
    """Minutes since the Unix epoch -> aware UTC datetime."""
    return EPOCH + timedelta(minutes=minute)


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    tz: str  # IANA zone name, e.g. "America/New_York"


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    specialties: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AppointmentType:
    """A kind of visit; `duration` and `buffer_after` in minutes."""

    id: str
    name: str
    duration: int
    buffer_after: int = 0
    specialty: str | None = None  # a provider must have it to be eligible


@dataclass(frozen=True)
class WorkingHours:
    """A weekly rule: `provider_id` works at `location_id` on `weekday` (0=Monday), local times.

    An `end` at or before `start` means the shift runs past midnight. `breaks` are local
    (start, end) pairs inside the shift. `valid_from`/`valid_until` are inclusive local dates.
    """

    provider_id: str
    location_id: str
    weekday: int
    start: time
    end: time
    breaks: tuple[tuple[time, time], ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class TimeOff:
    provider_id: str
    start: datetime  # aware
    end: datetime  # aware


@dataclass(frozen=True)
class Closure:
    """The whole location is closed in [start, end) (aware datetimes)."""

    location_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ExistingAppointment:
    """A booking already made; blocks the provider for [start, end + buffer_after minutes)."""

    id: str
    provider_id: str
    start: datetime
    end: datetime
    buffer_after: int = 0
    patient_id: str | None = None
    location_id: str | None = None


@dataclass(frozen=True)
class Clinic:
    """Everything the slot maths needs, as plain data. `grid_minutes` is 5 or 15."""

    providers: Sequence[Provider]
    locations: Sequence[Location]
    appointment_types: Sequence[AppointmentType]
    working_hours: Sequence[WorkingHours]
    time_off: Sequence[TimeOff] = ()
    closures: Sequence[Closure] = ()
    appointments: Sequence[ExistingAppointment] = ()
    grid_minutes: int = 15


@dataclass(frozen=True)
class Slot:
    """A bookable start; `end` is start + duration (the buffer is not shown to patients)."""

    provider_id: str
    location_id: str
    start: datetime
    end: datetime


def closure_for_days(location: Location, first: date, last: date) -> Closure:
    """Closure of whole local days `first`..`last` inclusive, e.g. a public holiday."""
    zone = ZoneInfo(location.tz)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return Closure(location.id, start, end)


@dataclass(frozen=True)
class Block:
    """Continuous working time of one provider at one location within one local day.

    Times are epoch minutes. `day` is the local date's ordinal, `noon`/`evening` the epoch
    minutes of local 12:00 and 17:00 that day, `phase` the grid offset: valid starts t have
    (t - phase) % grid == 0, i.e. they fall on the local grid.
    """

    provider_id: str
    location_id: str
    start: int
    end: int
    day: int
    weekday: int
    noon: int
    evening: int
    phase: int

    def part_of_day(self, minute: int) -> str:
        if minute < self.noon:
            return "morning"
        return "afternoon" if minute < self.evening else "evening"

    def part_ranges(self) -> Iterator[tuple[str, int, int]]:
        """(part, lo, hi) ranges of start minutes of this block, by part of day."""
        edges = ((("morning", self.start, self.noon)), ("afternoon", self.noon, self.evening))
        for part, lo, hi in (*edges, ("evening", self.evening, self.end)):
            lo, hi = max(lo, self.start), min(hi, self.end)
            if lo < hi:
                yield part, lo, hi


def subtract(
    intervals: list[tuple[int, int]], cuts: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Sorted disjoint `intervals` minus sorted `cuts` (all half-open minute pairs)."""
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in intervals:
        while j < len(cuts) and cuts[j][1] <= lo:
            j += 1
        k, cur = j, lo
        while k < len(cuts) and cuts[k][0] < hi:
            if cuts[k][0] > cur:
                out.append((cur, cuts[k][0]))
            cur = max(cur, cuts[k][1])
            k += 1
        if cur < hi:
            out.append((cur, hi))
    return out


def merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open intervals, sorted and disjoint."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _local_minute(day: date, at: time, zone: ZoneInfo) -> int:
    # fold=0: a wall time skipped by spring-forward maps to the later instant, a repeated one
    # (autumn) to its first occurrence, as zoneinfo defines; both are what a clinic means.
    return to_minute(datetime.combine(day, at, tzinfo=zone))


def working_blocks(clinic: Clinic, start: datetime, end: datetime) -> dict[str, list[Block]]:
    """Working time per provider in [start, end), less breaks, time off and closures."""
    lo, hi = to_minute(start), to_minute(end)
    zones = {loc.id: ZoneInfo(loc.tz) for loc in clinic.locations}
    off: dict[str, list[tuple[int, int]]] = {}
    for t in clinic.time_off:
        off.setdefault(t.provider_id, []).append((to_minute(t.start), to_minute(t.end)))
    closed: dict[str, list[tuple[int, int]]] = {}
    for c in clinic.closures:
        closed.setdefault(c.location_id, []).append((to_minute(c.start), to_minute(c.end)))
    raw: dict[str, list[Block]] = {}
    first_day = (start - timedelta(days=2)).date()
    n_days = (end - start).days + 4
    for rule in clinic.working_hours:
        zone = zones[rule.location_id]
        cuts = merge(off.get(rule.provider_id, []) + closed.get(rule.location_id, []))
        for i in range(n_days):
            day = first_day + timedelta(days=i)
            if day.weekday() != rule.weekday:
                continue
            if (rule.valid_from and day < rule.valid_from) or (
                rule.valid_until and day > rule.valid_until
            ):
                continue
            s = _local_minute(day, rule.start, zone)
            e_day = day if rule.end > rule.start else day + timedelta(days=1)
            e = _local_minute(e_day, rule.end, zone)
            breaks = []
            for b0, b1 in rule.breaks:
                bd = day if b0 >= rule.start else day + timedelta(days=1)
                breaks.append((_local_minute(bd, b0, zone), _local_minute(bd, b1, zone)))
            # Split at local midnight so that every block has one date, weekday and noon.
            midnight = _local_minute(day + timedelta(days=1), time(0), zone)
            pieces = [(s, min(e, midnight), day), (midnight, e, day + timedelta(days=1))]
            for p0, p1, pday in pieces:
                spans = subtract([(max(p0, lo), min(p1, hi))], merge(breaks + cuts))
                for b0, b1 in spans:
                    if b0 < b1:
                        raw.setdefault(rule.provider_id, []).append(
                            _block(rule, zone, pday, b0, b1, clinic.grid_minutes)
                        )
    return {p: sorted(bs, key=lambda b: b.start) for p, bs in raw.items()}


def _block(rule: WorkingHours, zone: ZoneInfo, day: date, s: int, e: int, grid: int) -> Block:
    offset = int(datetime.combine(day, time(12), tzinfo=zone).utcoffset().total_seconds() // 60)
    return Block(
        provider_id=rule.provider_id,
        location_id=rule.location_id,
        start=s,
        end=e,
        day=day.toordinal(),
        weekday=day.weekday(),
        noon=_local_minute(day, NOON, zone),
        evening=_local_minute(day, EVENING, zone),
        phase=(-offset) % grid,
    )


@dataclass
class FreeTime:
    """Free intervals per provider, each tagged with the working block it lies in.

    Built once for a horizon; `book`/`release` keep it current while a search places
    appointments. `grid` is in minutes.
    """

    grid: int
    blocks: dict[str, list[Block]]
    free: dict[str, list[tuple[int, int, Block]]] = field(default_factory=dict)

    @classmethod
    def build(cls, clinic: Clinic, start: datetime, end: datetime) -> FreeTime:
        """Free time in [start, end) after existing appointments and their buffers."""
        if clinic.grid_minutes <= 0 or DAY % clinic.grid_minutes:
            raise ValueError(f"grid_minutes must divide a day, got {clinic.grid_minutes}")
        blocks = working_blocks(clinic, start, end)
        busy: dict[str, list[tuple[int, int]]] = {}
        for a in clinic.appointments:
            span = (to_minute(a.start), to_minute(a.end) + a.buffer_after)
            busy.setdefault(a.provider_id, []).append(span)
        ft = cls(clinic.grid_minutes, blocks)
        for pid, bs in blocks.items():
            cuts = merge(busy.get(pid, []))
            ft.free[pid] = [
                (lo, hi, b) for b in bs for lo, hi in subtract([(b.start, b.end)], cuts)
            ]
        return ft

    def align_up(self, minute: int, block: Block) -> int:
        """First grid start at or after `minute` (local grid of `block`)."""
        return minute + (block.phase - minute) % self.grid

    def intervals(self, provider_id: str, lo: int, hi: int) -> list[tuple[int, int, Block]]:
        """Free intervals of the provider that overlap [lo, hi)."""
        ivs = self.free.get(provider_id, [])
        i = bisect.bisect_left(ivs, lo, key=lambda iv: iv[1])
        out = []
        while i < len(ivs) and ivs[i][0] < hi:
            if ivs[i][1] > lo:
                out.append(ivs[i])
            i += 1
        return out

    def starts(
        self, provider_id: str, length: int, lo: int, hi: int, duration: int | None = None
    ) -> Iterator[tuple[int, Block]]:
        """Grid starts t with [t, t+length) free and [t, t+duration) inside [lo, hi)."""
        dur = length if duration is None else duration
        for a, b, blk in self.intervals(provider_id, lo, hi):
            t = self.align_up(max(a, lo), blk)
            last = min(b - length, hi - dur)
            while t <= last:
                yield t, blk
                t += self.grid

    def book(self, provider_id: str, start: int, end: int) -> None:
        """Remove [start, end) from the provider's free time; it must be free."""
        ivs = self.free[provider_id]
        i = bisect.bisect_right(ivs, start, key=lambda iv: iv[0]) - 1
        a, b, blk = ivs[i]
        if not (a <= start and end <= b):
            raise ValueError("booking outside free time")
        repl = [(x, y, blk) for x, y in ((a, start), (end, b)) if x < y]
        ivs[i : i + 1] = repl

    def release(self, provider_id: str, start: int, end: int) -> None:
        """Give [start, end) back, merging with neighbours in the same block."""
        ivs = self.free.setdefault(provider_id, [])
        blk = next(b for b in self.blocks[provider_id] if b.start <= start and end <= b.end)
        i = bisect.bisect_left(ivs, start, key=lambda iv: iv[0])
        lo, hi = start, end
        if i > 0 and ivs[i - 1][1] == start and ivs[i - 1][2] is blk:
            i -= 1
            lo = ivs[i][0]
            del ivs[i]
        if i < len(ivs) and ivs[i][0] == end and ivs[i][2] is blk:
            hi = ivs[i][1]
            del ivs[i]
        ivs.insert(i, (lo, hi, blk))


def bookable_starts(
    clinic: Clinic,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime,
    provider_ids: Sequence[str] | None = None,
    location_id: str | None = None,
) -> list[Slot]:
    """Every grid start for `appointment_type` in [start, end), sorted by time then provider.

    A slot's appointment (not its buffer) ends by `end`; the buffer must still be free time.
    """
    ft = FreeTime.build(clinic, start, end)
    lo, hi = to_minute(start), to_minute(end)
    length = appointment_type.duration + appointment_type.buffer_after
    wanted = [p.id for p in clinic.providers] if provider_ids is None else list(provider_ids)
    out = []
    for pid in wanted:
        for t, blk in ft.starts(pid, length, lo, hi, appointment_type.duration):
            if location_id is None or blk.location_id == location_id:
                end_t = from_minute(t + appointment_type.duration)
                out.append(Slot(pid, blk.location_id, from_minute(t), end_t))
    out.sort(key=lambda s: (s.start, s.provider_id))
    return out

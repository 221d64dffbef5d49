"""When a patient may be messaged: quiet hours in their own zone and frequency caps.

All instants in and out are aware datetimes; results are in UTC. Local windows are wall-clock
times in the patient's IANA zone, so a 08:00-21:00 window means 08:00 on the patient's clock on
every day of the year, including the days clocks change. Around a change the rules are:

- a window opening inside a skipped hour (spring forward) opens at the instant the clock jumps;
- a repeated hour (fall back) is judged by the wall time, so it can be allowed, then quiet, then
  allowed again if the window edge lies inside it.

Pure functions: no Django, no database; the outbox calls them with plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["next_allowed_time", "in_quiet_window", "cap_allows", "next_time_within_caps"]

WEEK = timedelta(days=7)
_HOUR = timedelta(hours=1)
_MICRO = timedelta(microseconds=1)
_MAX_STEPS = (
    64  # each step crosses a day edge, a DST change or a cap; far more than any input needs
)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of `instant` in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset()  # type: ignore[return-value]


def _first_offset_change(after: datetime, until: datetime, zone: ZoneInfo) -> datetime | None:
    """First instant in (after, until] whose UTC offset differs from the one at `after`, or None.

    Probes hourly, then bisects to the microsecond. Assumes no zone changes its offset twice
    within an hour, which holds for every rule in the tz database.
    """
    offset = _offset(after, zone)
    previous = after
    probe = min(after + _HOUR, until)
    while True:
        if _offset(probe, zone) != offset:
            low, high = previous, probe
            while high - low > _MICRO:
                middle = low + (high - low) // 2
                if _offset(middle, zone) == offset:
                    low = middle
                else:
                    high = middle
            return high
        if probe >= until:
            return None
        previous, probe = probe, min(probe + _HOUR, until)


def _earliest(
    instant: datetime,
    zone: ZoneInfo,
    allowed: Callable[[datetime], bool],
    next_open: Callable[[datetime], datetime],
) -> datetime:
    """Earliest instant at or after `instant` whose local wall time satisfies `allowed`.

    `next_open(wall)` is the first wall time after `wall` at which `allowed` holds if the clock
    ticked evenly; any offset change on the way is found and the search resumes from it.
    """
    current = instant.astimezone(UTC)
    for _ in range(_MAX_STEPS):
        wall = _wall(current, zone)
        if allowed(wall):
            return current
        offset = _offset(current, zone)
        target = (next_open(wall) - offset).replace(tzinfo=UTC)
        change = _first_offset_change(current, target, zone)
        if change is None:
            return target
        current = change
    raise RuntimeError("no allowed time found; check the window and zone")


def in_quiet_window(wall: time, start: time = time(8), end: time = time(21)) -> bool:
    """True if local wall time `wall` is inside the allowed window [start, end).

    A window with start after end wraps midnight; start equal to end means no quiet hours.
    """
    if start == end:
        return True
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def next_allowed_time(
    due_utc: datetime, tz: str, start: time = time(8), end: time = time(21)
) -> tuple[datetime, str | None]:
    """Earliest UTC instant at or after `due_utc` whose local time in `tz` is in [start, end).

    Returns (instant, None) when `due_utc` is already allowed, else (instant, reason) with a
    reason such as "deferred: quiet hours 21:00-08:00 America/Chicago".
    """
    _require_aware("due_utc", due_utc)
    zone = ZoneInfo(tz)

    def allowed(wall: datetime) -> bool:
        return in_quiet_window(wall.time(), start, end)

    def next_open(wall: datetime) -> datetime:
        opening = datetime.combine(wall.date(), start)
        return opening if opening > wall else opening + timedelta(days=1)

    due = due_utc.astimezone(UTC)
    result = _earliest(due, zone, allowed, next_open)
    if result == due:
        return result, None
    return result, f"deferred: quiet hours {end:%H:%M}-{start:%H:%M} {tz}"


def _cap_block(
    sent: Sequence[datetime],
    candidate: datetime,
    zone: ZoneInfo,
    tz: str,
    per_day: int | None,
    per_week: int | None,
) -> tuple[str | None, str | None]:
    """Return (which cap blocks, reason) or (None, None) when `candidate` is allowed."""
    if per_day is not None:
        day = candidate.astimezone(zone).date()
        same_day = sum(1 for s in sent if s.astimezone(zone).date() == day)
        if same_day >= per_day:
            return "day", f"deferred: cap {per_day} per local day ({tz})"
    if per_week is not None:
        in_week = sum(1 for s in sent if candidate - WEEK < s <= candidate)
        if in_week >= per_week:
            return "week", f"deferred: cap {per_week} per 7 days"
    return None, None


def _check_caps(sent: Sequence[datetime], per_day: int | None, per_week: int | None) -> None:
    for value in sent:
        _require_aware("sent time", value)
    for name, cap in (("per_day", per_day), ("per_week", per_week)):
        if cap is not None and cap < 1:
            raise ValueError(f"{name} must be at least 1, or None for no cap")


def cap_allows(
    sent_local_times_utc: Sequence[datetime],
    candidate_utc: datetime,
    tz: str,
    per_day: int | None = 1,
    per_week: int | None = 3,
) -> tuple[bool, str | None]:
    """Whether one more message at `candidate_utc` keeps the patient within the caps.

    `sent_local_times_utc` are the aware instants of messages already sent (any zone).
    The daily cap counts messages on the same calendar day in the patient's zone `tz`, before or
    after the candidate. The weekly cap counts messages in the rolling 7 x 24 hours ending at
    the candidate, (candidate - 7 days, candidate]. A cap of None is no cap.
    """
    _require_aware("candidate_utc", candidate_utc)
    _check_caps(sent_local_times_utc, per_day, per_week)
    _, reason = _cap_block(sent_local_times_utc, candidate_utc, ZoneInfo(tz), tz, per_day, per_week)
    return reason is None, reason


def next_time_within_caps(
    sent_local_times_utc: Sequence[datetime],
    due_utc: datetime,
    tz: str,
    per_day: int | None = 1,
    per_week: int | None = 3,
    start: time = time(8),
    end: time = time(21),
) -> tuple[datetime, str | None]:
    """Earliest UTC instant at or after `due_utc` inside quiet hours and both frequency caps.

    Returns (instant, None) when `due_utc` itself is fine, else (instant, reasons) where reasons
    joins every deferral that applied with "; ".
    """
    _require_aware("due_utc", due_utc)
    _check_caps(sent_local_times_utc, per_day, per_week)
    zone = ZoneInfo(tz)
    reasons: list[str] = []
    candidate = due_utc.astimezone(UTC)
    for _ in range(_MAX_STEPS):
        candidate, quiet_reason = next_allowed_time(candidate, tz, start, end)
        if quiet_reason and quiet_reason not in reasons:
            reasons.append(quiet_reason)
        blocked, cap_reason = _cap_block(
            sent_local_times_utc, candidate, zone, tz, per_day, per_week
        )
        if blocked is None:
            return candidate, "; ".join(reasons) or None
        if cap_reason not in reasons:
            reasons.append(cap_reason)  # type: ignore[arg-type]
        if blocked == "day":
            candidate = _next_local_day(candidate, zone)
        else:
            window = sorted(s for s in sent_local_times_utc if candidate - WEEK < s <= candidate)
            # Drop just enough of the oldest sends out of the window to leave room for one more.
            candidate = window[len(window) - per_week].astimezone(UTC) + WEEK  # type: ignore[operator]
    raise RuntimeError("no time within caps found")


def _next_local_day(instant: datetime, zone: ZoneInfo) -> datetime:
    """First instant whose local calendar date is after that of `instant`."""
    today: date = _wall(instant, zone).date()
    midnight = datetime.combine(today + timedelta(days=1), time(0))
    return _earliest(instant, zone, lambda wall: wall.date() > today, lambda wall: midnight)

"""Quiet hours and frequency caps in the patient's own zone, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comms.quiet_hours import cap_allows, in_quiet_window, next_allowed_time, next_time_within_caps

ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Phoenix",
    "Pacific/Honolulu",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/St_Johns",  # half-hour offset with DST
    "Asia/Kathmandu",  # +05:45
]
# Instants near DST changes in the zones above, so Hypothesis explores them densely.
DST_DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),  # US spring forward
    datetime(2026, 11, 1, tzinfo=UTC),  # US fall back
    datetime(2026, 3, 29, tzinfo=UTC),  # EU spring forward
    datetime(2026, 10, 25, tzinfo=UTC),  # EU fall back
    datetime(2026, 4, 4, tzinfo=UTC),  # Lord Howe fall back (Apr 5 local)
    datetime(2026, 10, 3, tzinfo=UTC),  # Lord Howe spring forward (Oct 4 local)
]

near_dst = st.builds(
    lambda day, minutes: day + timedelta(minutes=minutes),
    st.sampled_from(DST_DAYS),
    st.integers(min_value=-36 * 60, max_value=36 * 60),
)
any_time = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
instants = st.one_of(near_dst, any_time)
clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(instant: datetime, tz: str) -> datetime:
    return instant.astimezone(ZoneInfo(tz))


@pytest.mark.parametrize(
    ("due", "tz", "expected", "deferred"),
    [
        # 21:30 in Chicago (CST, -6) waits until 08:00 the next morning.
        (utc(2026, 1, 15, 3, 30), "America/Chicago", utc(2026, 1, 15, 14, 0), True),
        # 10:00 in Chicago is fine as it is.
        (utc(2026, 1, 15, 16, 0), "America/Chicago", utc(2026, 1, 15, 16, 0), False),
        # 21:00 exactly is already quiet; 08:00 exactly is allowed.
        (utc(2026, 1, 16, 3, 0), "America/Chicago", utc(2026, 1, 16, 14, 0), True),
        (utc(2026, 1, 16, 14, 0), "America/Chicago", utc(2026, 1, 16, 14, 0), False),
        # Spring forward (8 March 2026): 08:00 is EDT (-4), one hour earlier in UTC than EST.
        (utc(2026, 3, 8, 5, 0), "America/New_York", utc(2026, 3, 8, 12, 0), True),
        (utc(2026, 3, 7, 5, 0), "America/New_York", utc(2026, 3, 7, 13, 0), True),
        # Fall back (1 November 2026): 08:00 is EST again.
        (utc(2026, 11, 1, 5, 0), "America/New_York", utc(2026, 11, 1, 13, 0), True),
        # Phoenix keeps MST all year; Honolulu HST.
        (utc(2026, 7, 1, 5, 0), "America/Phoenix", utc(2026, 7, 1, 15, 0), True),
        (utc(2026, 7, 1, 8, 0), "Pacific/Honolulu", utc(2026, 7, 1, 18, 0), True),
        # London in summer (BST, +1): 07:30 local waits 30 minutes.
        (utc(2026, 6, 1, 6, 30), "Europe/London", utc(2026, 6, 1, 7, 0), True),
    ],
)
def test_next_allowed_time_examples(
    due: datetime, tz: str, expected: datetime, deferred: bool
) -> None:
    result, reason = next_allowed_time(due, tz)
    assert result == expected
    assert result.tzinfo == UTC
    assert (reason is not None) == deferred
    if deferred:
        assert reason == f"deferred: quiet hours 21:00-08:00 {tz}"


def test_window_opening_inside_a_skipped_hour_opens_when_the_clock_jumps() -> None:
    # New York, 8 March 2026: 02:00 EST jumps to 03:00 EDT at 07:00 UTC; 02:30 never happens.
    result, _ = next_allowed_time(utc(2026, 3, 8, 6, 0), "America/New_York", start=time(2, 30))
    assert result == utc(2026, 3, 8, 7, 0)
    assert local(result, "America/New_York").time() == time(3, 0)
    # Lord Howe, 4 October 2026: 02:00 +10:30 jumps to 02:30 +11:00 at 15:30 UTC on 3 October.
    result, _ = next_allowed_time(
        utc(2026, 10, 3, 14, 0), "Australia/Lord_Howe", start=time(2, 15), end=time(3)
    )
    assert result == utc(2026, 10, 3, 15, 30)


def test_repeated_hour_is_judged_by_the_wall_clock() -> None:
    # Lord Howe, 5 April 2026: 02:00 +11:00 falls back to 01:30 +10:30 at 15:00 UTC, so the
    # 01:45-01:50 window happens twice; after the first one closes, the second one is next.
    window = {"start": time(1, 45), "end": time(1, 50)}
    tz = "Australia/Lord_Howe"
    assert next_allowed_time(utc(2026, 4, 4, 14, 40), tz, **window)[0] == utc(2026, 4, 4, 14, 45)
    assert next_allowed_time(utc(2026, 4, 4, 14, 50), tz, **window)[0] == utc(2026, 4, 4, 15, 15)


def test_window_wrapping_midnight_and_no_quiet_hours() -> None:
    assert in_quiet_window(time(23), time(20), time(6))
    assert in_quiet_window(time(5, 59), time(20), time(6))
    assert not in_quiet_window(time(6), time(20), time(6))
    assert next_allowed_time(utc(2026, 1, 1, 3), "UTC", time(9), time(9)) == (
        utc(2026, 1, 1, 3),
        None,
    )


def test_naive_due_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_allowed_time(datetime(2026, 1, 1, 12), "UTC")


@settings(max_examples=300, deadline=None)
@given(due=instants, tz=st.sampled_from(ZONES), start=clock, end=clock)
def test_next_allowed_time_properties(due: datetime, tz: str, start: time, end: time) -> None:
    result, reason = next_allowed_time(due, tz, start, end)
    assert result >= due
    assert result.tzinfo == UTC
    assert in_quiet_window(local(result, tz).time(), start, end)
    assert (reason is None) == (result == due)
    if result > due:
        # Nothing earlier was allowed: the instant just before is still quiet.
        before = result - timedelta(microseconds=1)
        assert not in_quiet_window(local(before, tz).time(), start, end)
        if result - due > timedelta(minutes=1):
            middle = due + (result - due) / 2
            assert not in_quiet_window(local(middle, tz).time(), start, end)


def test_daily_cap_counts_the_patients_calendar_day() -> None:
    tz = "America/Los_Angeles"
    sent = [utc(2026, 1, 15, 7, 30)]  # 23:30 on 14 January in Los Angeles
    # 15 January 09:00 local is a new local day, though the same UTC day.
    assert cap_allows(sent, utc(2026, 1, 15, 17, 0), tz) == (True, None)
    allowed, reason = cap_allows(sent, utc(2026, 1, 15, 7, 45), tz)
    assert not allowed
    assert reason == "deferred: cap 1 per local day (America/Los_Angeles)"


def test_weekly_cap_is_a_rolling_seven_days() -> None:
    sent = [utc(2026, 1, 1, 15), utc(2026, 1, 3, 15), utc(2026, 1, 5, 15)]
    assert cap_allows(sent, utc(2026, 1, 7, 16), "UTC") == (False, "deferred: cap 3 per 7 days")
    assert cap_allows(sent, utc(2026, 1, 8, 15), "UTC") == (True, None)
    assert cap_allows(sent, utc(2026, 1, 8, 14, 59), "UTC")[0] is False
    assert cap_allows(sent, utc(2026, 1, 7, 16), "UTC", per_week=None) == (True, None)


def test_caps_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        cap_allows([], utc(2026, 1, 1), "UTC", per_day=0)
    with pytest.raises(ValueError):
        cap_allows([datetime(2026, 1, 1)], utc(2026, 1, 1), "UTC")


def test_next_time_within_caps_examples() -> None:
    tz = "America/New_York"
    # Already messaged today: tomorrow at 08:00 local (EDT after the 8 March change).
    result, reason = next_time_within_caps([utc(2026, 3, 7, 15)], utc(2026, 3, 7, 18), tz)
    assert result == utc(2026, 3, 8, 12, 0)
    assert reason == (
        "deferred: cap 1 per local day (America/New_York); "
        "deferred: quiet hours 21:00-08:00 America/New_York"
    )
    # Three in the last week: when the oldest is 7 days old, inside quiet hours.
    sent = [utc(2026, 3, 2, 14), utc(2026, 3, 3, 14), utc(2026, 3, 4, 14)]
    assert next_time_within_caps(sent, utc(2026, 3, 5, 15), tz) == (
        utc(2026, 3, 9, 14),
        "deferred: cap 3 per 7 days",
    )
    assert next_time_within_caps([], utc(2026, 3, 5, 15), tz) == (utc(2026, 3, 5, 15), None)


@settings(max_examples=200, deadline=None)
@given(
    due=instants,
    tz=st.sampled_from(ZONES),
    offsets=st.lists(st.integers(-10 * 24 * 60, 3 * 24 * 60), max_size=8),
    per_day=st.sampled_from([1, 2, None]),
    per_week=st.sampled_from([1, 3, 5, None]),
)
def test_next_time_within_caps_properties(
    due: datetime, tz: str, offsets: list[int], per_day: int | None, per_week: int | None
) -> None:
    sent = [due + timedelta(minutes=minutes) for minutes in offsets]
    result, reason = next_time_within_caps(sent, due, tz, per_day, per_week)
    assert result >= due
    assert in_quiet_window(local(result, tz).time())
    assert cap_allows(sent, result, tz, per_day, per_week) == (True, None)
    assert (reason is None) == (result == due)
    if result > due:
        before = result - timedelta(microseconds=1)
        quiet = not in_quiet_window(local(before, tz).time())
        assert quiet or not cap_allows(sent, before, tz, per_day, per_week)[0]

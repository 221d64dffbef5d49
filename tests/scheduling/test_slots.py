"""Free-time arithmetic: working hours, breaks, time off, closures, buffers, grid, DST."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.slots import (
    AppointmentType,
    Clinic,
    ExistingAppointment,
    FreeTime,
    Location,
    Provider,
    TimeOff,
    WorkingHours,
    bookable_starts,
    closure_for_days,
    from_minute,
    merge,
    subtract,
    to_minute,
)

NY = ZoneInfo("America/New_York")
LOC = Location("main", "Main", "America/New_York")
ORTIZ = Provider("p1", "Dr Ortiz")
CHECKUP = AppointmentType("checkup", "checkup", 30, 0)


def clinic(**kw) -> Clinic:
    hours = [
        WorkingHours("p1", "main", wd, time(9), time(17), ((time(12), time(13)),))
        for wd in range(7)
    ]
    base = dict(
        providers=[ORTIZ],
        locations=[LOC],
        appointment_types=[CHECKUP],
        working_hours=hours,
        grid_minutes=15,
    )
    base.update(kw)
    return Clinic(**base)


def ny(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NY)


def test_minutes_round_trip_and_naive_rejected():
    dt = datetime(2026, 3, 8, 14, 30, tzinfo=UTC)
    assert from_minute(to_minute(dt)) == dt
    with pytest.raises(ValueError, match="naive"):
        to_minute(datetime(2026, 3, 8, 14, 30))


def test_interval_subtract_and_merge():
    assert merge([(5, 7), (1, 3), (2, 4)]) == [(1, 4), (5, 7)]
    assert subtract([(0, 10), (20, 30)], [(2, 3), (8, 22)]) == [(0, 2), (3, 8), (22, 30)]
    assert subtract([(0, 10)], []) == [(0, 10)]


def test_break_and_grid():
    slots = bookable_starts(clinic(), CHECKUP, ny(2026, 3, 3), ny(2026, 3, 4))
    local = [s.start.astimezone(NY).time() for s in slots]
    assert local[0] == time(9) and local[-1] == time(16, 30)
    assert time(11, 30) in local and time(11, 45) not in local  # would run into lunch
    assert time(12) not in local and time(13) in local
    assert all(t.minute % 15 == 0 for t in local)
    assert all(s.start.tzinfo is UTC for s in slots)


@pytest.mark.parametrize(
    ("day", "utc_start", "utc_end"),
    [
        (date(2026, 3, 7), 14, 22),  # EST, UTC-5
        (date(2026, 3, 8), 13, 21),  # DST starts at 02:00: EDT, UTC-4
        (date(2026, 10, 31), 13, 21),  # EDT
        (date(2026, 11, 1), 14, 22),  # DST ends at 02:00: EST again
    ],
)
def test_working_day_follows_dst(day, utc_start, utc_end):
    c = clinic(working_hours=[WorkingHours("p1", "main", day.weekday(), time(9), time(17))])
    start = datetime.combine(day, time(0), tzinfo=NY)
    slots = bookable_starts(c, CHECKUP, start, start + timedelta(days=1))
    assert slots[0].start == datetime.combine(day, time(utc_start), tzinfo=UTC)
    assert slots[-1].end == datetime.combine(day, time(utc_end), tzinfo=UTC)
    assert len(slots) == 8 * 4 - 1  # same local day, same number of starts


def test_night_shift_across_spring_forward_is_one_hour_shorter():
    # 00:00-06:00 local on 2026-03-08 lasts 5 real hours: 02:00-03:00 does not exist.
    rule = WorkingHours("p1", "main", date(2026, 3, 8).weekday(), time(0), time(6))
    c = clinic(working_hours=[rule], grid_minutes=5)
    ft = FreeTime.build(c, ny(2026, 3, 8), ny(2026, 3, 9))
    ((a, b, blk),) = ft.free["p1"]
    assert b - a == 5 * 60
    assert blk.part_of_day(a) == "morning"


def test_overnight_shift_split_at_local_midnight():
    rule = WorkingHours("p1", "main", 0, time(20), time(2))  # Monday evening into Tuesday
    ft = FreeTime.build(clinic(working_hours=[rule]), ny(2026, 3, 2), ny(2026, 3, 4))
    blocks = ft.blocks["p1"]
    assert [b.weekday for b in blocks] == [0, 1]
    assert blocks[0].end == blocks[1].start
    assert blocks[0].part_of_day(blocks[0].start) == "evening"


def test_time_off_closure_and_existing_buffer():
    appt = ExistingAppointment("a1", "p1", ny(2026, 3, 3, 9), ny(2026, 3, 3, 9, 30), 10)
    off = TimeOff("p1", ny(2026, 3, 3, 15), ny(2026, 3, 3, 17))
    closed = closure_for_days(LOC, date(2026, 3, 4), date(2026, 3, 4))
    c = clinic(appointments=[appt], time_off=[off], closures=[closed])
    slots = bookable_starts(c, CHECKUP, ny(2026, 3, 3), ny(2026, 3, 5))
    local = [s.start.astimezone(NY) for s in slots]
    assert local[0] == ny(2026, 3, 3, 9, 45)  # 09:30 + 10 min buffer, then the 15-min grid
    assert max(local) == ny(2026, 3, 3, 14, 30)  # time off from 15:00
    assert not [t for t in local if t.date() == date(2026, 3, 4)]  # closed all day


def test_type_buffer_must_fit_before_the_next_booking():
    long_buffer = AppointmentType("x", "x", 30, 15)
    appt = ExistingAppointment("a1", "p1", ny(2026, 3, 3, 10), ny(2026, 3, 3, 10, 30))
    slots = bookable_starts(
        clinic(appointments=[appt]), long_buffer, ny(2026, 3, 3, 9), ny(2026, 3, 3, 11)
    )
    assert [s.start.astimezone(NY).time() for s in slots] == [time(9), time(9, 15)]


def test_book_and_release_restore_free_time():
    ft = FreeTime.build(clinic(), ny(2026, 3, 3), ny(2026, 3, 4))
    before = list(ft.free["p1"])
    s = to_minute(ny(2026, 3, 3, 10))
    ft.book("p1", s, s + 45)
    assert len(ft.free["p1"]) == len(before) + 1
    with pytest.raises(ValueError):
        ft.book("p1", s, s + 15)
    ft.release("p1", s, s + 45)
    assert ft.free["p1"] == before


def test_bad_grid_rejected():
    with pytest.raises(ValueError, match="grid"):
        FreeTime.build(clinic(grid_minutes=7), ny(2026, 3, 3), ny(2026, 3, 4))

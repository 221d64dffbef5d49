"""Back-fill of a freed slot: direct fills ranked by points, chains that pull work earlier."""

from dataclasses import replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from scheduling.backfill import backfill
from scheduling.slots import (
    AppointmentType,
    Clinic,
    ExistingAppointment,
    Location,
    Provider,
    WorkingHours,
)
from scheduling.suggest import BookingRequest

NY = ZoneInfo("America/New_York")


def ny(d, hh=0, mm=0) -> datetime:
    return datetime(2026, 3, d, hh, mm, tzinfo=NY)


CLINIC = Clinic(
    [Provider("ortiz", "Dr Ortiz")],
    [Location("main", "Main", "America/New_York")],
    [AppointmentType("short", "short visit", 30), AppointmentType("long", "long visit", 90)],
    [WorkingHours("ortiz", "main", wd, time(9), time(12)) for wd in range(5)],
)
# A full Tuesday morning: three one-hour bookings.
BOOKED = [
    ExistingAppointment(f"a{h}", "ortiz", ny(3, h), ny(3, h + 1), 0, f"pt{h}") for h in (9, 10, 11)
]


def wait(rid, urgency=1, type_id="short", **kw) -> BookingRequest:
    return BookingRequest(rid, f"w{rid}", type_id, ny(2), ny(7), urgency=urgency, **kw)


def test_urgent_waitlist_request_ranks_first():
    freed, rest = BOOKED[1], [BOOKED[0], BOOKED[2]]
    res = backfill(
        replace(CLINIC, appointments=rest),
        freed,
        [wait("calm"), wait("urgent", 5), wait("long", 5, "long")],
    )
    assert [o.moves[0].request_id for o in res.options] == ["urgent", "calm"]
    first = res.options[0].moves[0]
    assert ny(3, 10) <= first.start and first.end <= ny(3, 11)
    assert "fills the freed slot with Dr Ortiz" in res.options[0].reason


def test_chain_pulls_a_later_urgent_appointment_forward():
    later = ExistingAppointment("late", "ortiz", ny(6, 9), ny(6, 9, 30), 0, "ptL")
    late_req = BookingRequest("late-req", "ptL", "short", ny(2), ny(7), urgency=5)
    freed, rest = BOOKED[1], [BOOKED[0], BOOKED[2], later]
    res = backfill(
        replace(CLINIC, appointments=rest), freed, [wait("calm")], movable=[(late_req, later)]
    )
    chain = [o for o in res.options if len(o.moves) == 2]
    assert chain, res
    pulled, filler = chain[0].moves
    assert pulled.appointment_id == "late" and pulled.start < later.start
    assert filler.request_id == "calm" and filler.start == later.start
    assert chain[0].gain > 0


def test_nothing_fits_is_explained():
    freed, rest = BOOKED[1], [BOOKED[0], BOOKED[2]]
    res = backfill(replace(CLINIC, appointments=rest), freed, [wait("long", 5, "long")])
    assert res.options == () and "no waitlist request fits" in res.blocked_reason
    res = backfill(CLINIC, replace(freed, provider_id="ghost"), [wait("calm")])
    assert "unknown provider" in res.blocked_reason

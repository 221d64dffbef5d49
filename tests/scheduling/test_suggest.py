"""Top-k suggestions: scoring, reasons, patients' own bookings, impossible requests."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from scheduling.slots import (
    AppointmentType,
    Clinic,
    ExistingAppointment,
    Location,
    Provider,
    WorkingHours,
)
from scheduling.suggest import BookingRequest, SchedulingInfeasible, suggest

NY = ZoneInfo("America/New_York")


def ny(d, hh=0, mm=0) -> datetime:
    return datetime(2026, 3, d, hh, mm, tzinfo=NY)


@pytest.fixture
def clinic() -> Clinic:
    providers = [
        Provider("ortiz", "Dr Ortiz", frozenset({"general"})),
        Provider("okafor", "Dr Okafor", frozenset({"general", "cardiology"})),
    ]
    hours = [
        WorkingHours(p.id, "main", wd, time(8), time(19), ((time(12), time(13)),))
        for p in providers
        for wd in range(5)
    ]
    types = [
        AppointmentType("consult", "consultation", 30, 5),
        AppointmentType("ecg", "ECG", 40, 10, "cardiology"),
    ]
    return Clinic(providers, [Location("main", "Main", "America/New_York")], types, hours)


def request(**kw) -> BookingRequest:
    base = dict(id="r1", patient_id="pt1", type_id="consult", window_start=ny(2), window_end=ny(7))
    base.update(kw)
    return BookingRequest(**base)


def test_usual_provider_and_preferences_win_with_reason(clinic):
    req = request(
        usual_provider_id="ortiz",
        preferred_weekdays=frozenset({1}),
        preferred_times=frozenset({"morning"}),
    )
    res = suggest(clinic, req, k=3)
    assert res.blocked_reason is None
    best = res.suggestions[0]
    assert best.provider_id == "ortiz"
    local = best.start.astimezone(NY)
    assert local.weekday() == 1 and local.hour < 12
    assert best.reason == (
        "earliest with Dr Ortiz, your usual provider, Tuesday morning as you prefer"
    )
    assert [s.score for s in res.suggestions] == sorted(
        (s.score for s in res.suggestions), reverse=True
    )


def test_suggestions_are_varied_and_inside_window(clinic):
    res = suggest(clinic, request(), k=10)
    keys = {
        (s.provider_id, s.start.astimezone(NY).date(), s.reason.split(", ")[-1])
        for s in res.suggestions
    }
    assert len(keys) == len(res.suggestions) == 10
    assert all(ny(2) <= s.start and s.end <= ny(7) for s in res.suggestions)


def test_specialty_limits_providers(clinic):
    res = suggest(clinic, request(type_id="ecg"), k=5)
    assert {s.provider_id for s in res.suggestions} == {"okafor"}


def test_patient_own_appointment_is_avoided(clinic):
    own = ExistingAppointment("a", "okafor", ny(2, 8), ny(2, 10), 0, patient_id="pt1")
    c = Clinic(**{**clinic.__dict__, "appointments": [own]})
    res = suggest(c, request(window_end=ny(3), providers=frozenset({"ortiz"})), k=1)
    assert res.suggestions[0].start.astimezone(NY) == ny(2, 10)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"type_id": "massage"}, "unknown appointment type"),
        ({"providers": frozenset({"nobody"})}, "no provider"),
        ({"specialty": "neurology"}, "neurology"),
        ({"window_end": ny(2, 0, 10)}, "too short"),
        ({"window_start": ny(7), "window_end": ny(9)}, "no free time"),  # the weekend
        ({"window_start": datetime(2026, 3, 2)}, "naive"),
    ],
)
def test_impossible_requests_explained_not_raised(clinic, changes, words):
    res = suggest(clinic, request(**changes))
    assert res.suggestions == ()
    assert words in res.blocked_reason
    with pytest.raises(SchedulingInfeasible):
        res.raise_if_blocked()

"""The waitlist's planning screens: best slots with one-click booking, and the batch optimiser."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse

from scheduling import services
from scheduling.models import Appointment, AppointmentRequest, RequestStatus
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:scheduling_appointmentrequest_changelist")
OPTIMISE = reverse("admin:scheduling_appointmentrequest_optimise")


def _request(clinic, patient=None, **fields) -> AppointmentRequest:
    monday = clinic.next_weekday(0)
    values = {
        "patient": patient or factories.PatientFactory(home_location=clinic.location),
        "appointment_type": clinic.visit,
        "earliest_date": monday,
        "latest_date": monday + timedelta(days=4),
        "urgency": 3,
    }
    values.update(fields)
    return AppointmentRequest.objects.create(**values)


def _slots(row) -> str:
    return reverse("admin:scheduling_appointmentrequest_slots", args=[row.pk])


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_waitlist_pages_render_for_the_front_desk(desk, clinic):
    row = _request(clinic)
    changelist = desk.get(CHANGELIST).content.decode()
    assert OPTIMISE in changelist
    change = desk.get(reverse("admin:scheduling_appointmentrequest_change", args=[row.pk]))
    assert change.status_code == 200 and _slots(row) in change.content.decode()
    assert desk.get(OPTIMISE).status_code == 200


def test_best_slots_are_shown_with_score_and_reason_and_book_in_one_click(desk, clinic):
    row = _request(clinic, patient=clinic.patient, preferred_times=["afternoon"])
    page = desk.get(_slots(row))
    assert page.status_code == 200
    rows = page.context["rows"]
    assert 1 <= len(rows) <= 5 and all(r["score"] > 0 and r["reason"] for r in rows)
    assert "afternoon" in rows[0]["reason"] and "Dr Elena Ortiz" in page.content.decode()
    response = desk.post(_slots(row), {"slot": rows[0]["key"]}, follow=True)
    appointment = Appointment.objects.get(patient=clinic.patient)
    assert appointment.start == rows[0]["start"] and appointment.created_via == "waitlist"
    row.refresh_from_db()
    assert row.status == RequestStatus.BOOKED and row.booked_appointment == appointment
    assert any(m.startswith("Booked Follow-up") for m in _messages(response))


def test_a_stale_or_malformed_choice_is_explained_and_books_nothing(desk, clinic):
    row = _request(clinic)
    key = desk.get(_slots(row)).context["rows"][0]["key"]
    provider_id, location_id, start_iso = key.split("|")
    services.book(  # someone else takes that time meanwhile
        patient=factories.PatientFactory(home_location=clinic.location),
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=datetime.fromisoformat(start_iso),
    )
    response = desk.post(_slots(row), {"slot": key}, follow=True)
    assert response.status_code == 200
    assert any("already has an appointment" in m for m in _messages(response))
    for bad in ("nonsense", f"{provider_id}|{location_id}|not-a-date", "999|1|2030-01-01"):
        response = desk.post(_slots(row), {"slot": bad}, follow=True)
        assert response.status_code == 200
        assert any(m.startswith("Not booked") for m in _messages(response))
    assert Appointment.objects.count() == 1
    row.refresh_from_db()
    assert row.status == RequestStatus.OPEN


@pytest.mark.parametrize(
    ("case", "explanation"),
    [
        ("no_provider", "no active provider may see"),
        ("past", "window has already passed"),
        ("booked", "This request is booked"),
    ],
)
def test_an_impossible_request_is_explained_not_crashed(desk, clinic, case, explanation):
    if case == "no_provider":
        other = factories.SpecialtyFactory(name="Dermatology")
        kind = factories.AppointmentTypeFactory(name="Skin check", specialties=[other])
        row = _request(clinic, appointment_type=kind)
    elif case == "past":
        row = _request(
            clinic,
            earliest_date=date.today() - timedelta(days=9),
            latest_date=date.today() - timedelta(days=2),
        )
    else:
        row = _request(clinic, status=RequestStatus.BOOKED)
    page = desk.get(_slots(row))
    assert page.status_code == 200
    assert explanation in page.content.decode() and not page.context["rows"]


def test_the_changelist_action_opens_the_slots_of_one_request(desk, clinic):
    row = _request(clinic)
    response = desk.post(CHANGELIST, {"action": "find_best_slots", "_selected_action": [row.pk]})
    assert response.status_code == 302 and response["Location"] == _slots(row)


def test_optimise_proposes_without_saving_and_books_only_on_confirm(desk, clinic):
    rows = [_request(clinic, urgency=u) for u in (5, 3, 1)]
    preview = desk.post(OPTIMISE, {"days": 14, "time_limit": 1, "preview": "1"})
    assert preview.status_code == 200
    context = preview.context
    assert len(context["proposals"]) == 3 and context["result"].objective > 0
    assert context["baseline"].objective <= context["result"].objective
    page = preview.content.decode()
    assert "Objective" in page and "gap" in page and "first come, first served" in page
    assert Appointment.objects.count() == 0  # the preview saved nothing
    assert set(AppointmentRequest.objects.values_list("status", flat=True)) == {"open"}

    response = desk.post(OPTIMISE, {"confirm": "1", "plan": context["plan"]}, follow=True)
    assert "Booked 3 request(s)." in _messages(response)
    assert Appointment.objects.filter(created_via="optimizer").count() == 3
    for row in rows:
        row.refresh_from_db()
        assert row.status == RequestStatus.BOOKED and row.booked_appointment is not None


def test_confirming_reports_a_booking_that_became_impossible(desk, clinic):
    first, second = _request(clinic, urgency=5), _request(clinic, urgency=4)
    context = desk.post(OPTIMISE, {"days": 14, "time_limit": 1, "preview": "1"}).context
    taken = next(p for p in context["proposals"] if p["row"].pk == first.pk)
    services.book(
        patient=factories.PatientFactory(home_location=clinic.location),
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=taken["start"],
    )
    response = desk.post(OPTIMISE, {"confirm": "1", "plan": context["plan"]}, follow=True)
    messages = _messages(response)
    assert "Booked 1 request(s)." in messages
    assert any(f"request #{first.pk}" in m and "already has" in m for m in messages)
    assert AppointmentRequest.objects.get(pk=first.pk).status == RequestStatus.OPEN
    assert AppointmentRequest.objects.get(pk=second.pk).status == RequestStatus.BOOKED


def test_a_tampered_plan_books_nothing(desk, clinic):
    _request(clinic)
    response = desk.post(OPTIMISE, {"confirm": "1", "plan": "[[1, 1, 1, 'x']]"}, follow=True)
    assert response.status_code == 200
    assert any("could not be read" in m for m in _messages(response))
    assert Appointment.objects.count() == 0


def test_bad_optimise_input_is_refused_with_the_form(desk, clinic):
    response = desk.post(OPTIMISE, {"days": 0, "time_limit": 500, "preview": "1"})
    assert response.status_code == 200 and response.context["form"].errors
    assert "result" not in response.context

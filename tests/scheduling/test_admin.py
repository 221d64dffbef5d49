"""The front desk's admin workflows call the services and report what happened."""

from __future__ import annotations

from datetime import time

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from scheduling import services
from scheduling.models import Appointment, AppointmentStatus, Location, Patient

pytestmark = pytest.mark.django_db

ADD = reverse("admin:scheduling_appointment_add")
CHANGELIST = reverse("admin:scheduling_appointment_changelist")


def _form(clinic, day, clock: str) -> dict:
    return {
        "patient": clinic.patient.pk,
        "provider": clinic.provider.pk,
        "location": clinic.location.pk,
        "appointment_type": clinic.visit.pk,
        "local_date": day.isoformat(),
        "local_time": clock,
        "notes": "",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
    }


def test_front_desk_books_in_the_locations_local_time(desk, clinic):
    day = clinic.next_weekday(0)
    response = desk.post(ADD, _form(clinic, day, "09:30"))
    assert response.status_code == 302, response.content.decode()[:2000]
    appointment = Appointment.objects.get()
    assert appointment.start == clinic.at(day, time(9, 30))
    assert appointment.created_by.username == "desk"
    assert appointment.changes.get().action == "booked"


@pytest.mark.parametrize(
    ("clock", "message"),
    [
        ("06:00", "does not work at Riverside"),
        ("12:10", "lunch"),
    ],
)
def test_invalid_booking_shows_what_to_fix_and_saves_nothing(desk, clinic, clock, message):
    response = desk.post(ADD, _form(clinic, clinic.next_weekday(0), clock))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Appointment.objects.count() == 0


def test_double_booking_through_the_admin_is_refused(desk, clinic):
    day = clinic.next_weekday(0)
    assert desk.post(ADD, _form(clinic, day, "09:00")).status_code == 302
    response = desk.post(ADD, _form(clinic, day, "09:15"))
    assert "already has an appointment" in response.content.decode()
    assert Appointment.objects.count() == 1


def _book(clinic, clock=time(9)):
    return services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(clinic.next_weekday(0), clock),
    )


def test_confirm_and_cancel_actions_call_the_services(desk, clinic):
    appointment = _book(clinic)
    response = desk.post(
        CHANGELIST,
        {"action": "confirm_selected", "_selected_action": [appointment.pk]},
        follow=True,
    )
    assert "Confirmed 1 appointment(s)." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED

    # Cancelling asks for a reason first and changes nothing until it is given.
    ask = desk.post(CHANGELIST, {"action": "cancel_selected", "_selected_action": [appointment.pk]})
    assert ask.status_code == 200 and "Reason for cancelling" in ask.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    done = desk.post(
        CHANGELIST,
        {
            "action": "cancel_selected",
            "apply": "1",
            "_selected_action": [appointment.pk],
            "reason": "Patient is travelling",
        },
        follow=True,
    )
    assert "Cancelled 1 appointment(s)." in done.content.decode()
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancel_reason) == (
        AppointmentStatus.CANCELLED,
        "Patient is travelling",
    )


def test_outcome_action_reports_what_could_not_change(desk, clinic):
    appointment = _book(clinic)
    response = desk.post(
        CHANGELIST, {"action": "mark_completed", "_selected_action": [appointment.pk]}, follow=True
    )
    assert "has not started yet" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_search_by_phone_and_record_number(desk, clinic):
    clinic.patient.record_number = "MRN-4242"
    clinic.patient.save()
    _book(clinic)
    for term in ["MRN-4242", str(clinic.patient.phone), "Quintero"]:
        response = desk.get(CHANGELIST, {"q": term})
        assert "1 appointment" in response.content.decode(), term
    assert "0 appointments" in desk.get(CHANGELIST, {"q": "Nobody"}).content.decode()


def test_patient_page_lists_upcoming_visits(desk, clinic):
    _book(clinic)
    page = desk.get(reverse("admin:scheduling_patient_change", args=[clinic.patient.pk]))
    body = page.content.decode()
    assert "Upcoming appointments" in body and "Past appointments" in body
    assert "Dr Elena Ortiz" in body


def test_invalid_phone_and_time_zone_are_refused(client, django_user_model, clinic):
    boss = django_user_model.objects.create_superuser("boss", "b@example.org", "pw-123456")
    client.force_login(boss)
    response = client.post(
        reverse("admin:scheduling_patient_add"),
        {
            "first_name": "Bad",
            "last_name": "Phone",
            "date_of_birth": "1990-01-01",
            "phone": "12345",
            "email": "",
            "preferred_language": "en",
            "preferred_channel": "sms",
            "home_location": clinic.location.pk,
            "upcoming-TOTAL_FORMS": "0",
            "upcoming-INITIAL_FORMS": "0",
        },
    )
    assert "Enter a valid phone number" in response.content.decode()
    assert not Patient.objects.filter(last_name="Phone").exists()
    response = client.post(
        reverse("admin:scheduling_location_add"),
        {
            "name": "Moon base",
            "address_line1": "1 Crater",
            "city": "Tranquility",
            "time_zone": "Moon/Crater",
        },
    )
    assert "not a known time zone" in response.content.decode()
    assert not Location.objects.filter(name="Moon base").exists()


def test_groups_give_front_desk_and_managers_different_rights(client, django_user_model):
    desk_perms = set(
        Group.objects.get(name="Front desk").permissions.values_list("codename", flat=True)
    )
    manager_perms = set(
        Group.objects.get(name="Manager").permissions.values_list("codename", flat=True)
    )
    assert {"add_appointment", "change_appointment", "view_provider"} <= desk_perms
    assert "change_provider" not in desk_perms
    assert desk_perms < manager_perms and "change_provider" in manager_perms

"""Reminder planning follows the appointment's state; patients get exactly the right text."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine

from comms import consent
from comms.models import OutboundMessage, Purpose, Status
from comms.reminders import plan_for_appointment
from scheduling import services
from scheduling.models import Appointment

pytestmark = pytest.mark.django_db


def book(clinic, start, patient=None) -> Appointment:
    return services.book(
        patient=patient or clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=start,
    )


def reminders(appointment, status=Status.QUEUED):
    return list(
        OutboundMessage.objects.filter(
            appointment=appointment, purpose=Purpose.REMINDER, status=status
        ).order_by("due_at")
    )


def test_booking_plans_the_cadence_with_the_exact_sms(clinic):
    start = clinic.at(clinic.next_weekday(1, weeks_ahead=2), time(10, 30))  # a Tuesday
    appointment = book(clinic, start)
    planned = reminders(appointment)
    assert [start - m.due_at for m in planned] == [
        timedelta(days=7),
        timedelta(hours=48),
        timedelta(hours=2),
    ]
    first = planned[0]
    assert first.channel == "sms" and first.recipient == str(clinic.patient.phone)
    local = start.astimezone(clinic.location.zone)
    expected_day = f"{local:%A}, {local:%B} {local.day}"
    assert first.body.startswith(
        f"Reminder: your appointment with Dr Elena Ortiz is on {expected_day} at 10:30 AM, "
        "Riverside. Reply C to confirm, R to reschedule, 2 to cancel."
    )
    assert first.body.endswith("Reply STOP to opt out")
    assert first.encoding == "GSM-7" and first.segments <= 2
    assert first.source.startswith("template:en/reminder.sms")


def test_spanish_patient_gets_spanish_text(clinic):
    clinic.patient.preferred_language = "es"
    clinic.patient.save()
    appointment = book(clinic, clinic.at(clinic.next_weekday(1, weeks_ahead=2), time(15, 0)))
    body = reminders(appointment)[0].body
    assert body.startswith("Recordatorio: su cita con Dr Elena Ortiz es el martes")
    assert "a las 15:00" in body and "PARAR" in body


def test_booked_inside_the_window_gets_only_what_is_ahead_and_nothing_in_the_past(clinic):
    day = clinic.next_weekday(2, weeks_ahead=1)
    with time_machine.travel(clinic.at(day, time(7, 0)) - timedelta(days=1), tick=False):
        appointment = book(clinic, clinic.at(day, time(14, 0)))
        planned = reminders(appointment)
        assert [m.due_at for m in planned] == [clinic.at(day, time(12, 0))]
        now = datetime.now().astimezone()
        assert all(m.due_at >= now for m in planned)


def test_confirming_stops_further_confirmation_asks(clinic):
    appointment = book(clinic, clinic.at(clinic.next_weekday(1, weeks_ahead=2), time(10)))
    services.confirm(appointment)
    left = reminders(appointment)
    assert [appointment.start - m.due_at for m in left] == [timedelta(hours=2)]
    withdrawn = reminders(appointment, Status.CANCELLED)
    assert len(withdrawn) == 2 and {m.reason for m in withdrawn} == {"patient confirmed"}


def test_reschedule_replans_and_cancel_withdraws(clinic):
    day = clinic.next_weekday(1, weeks_ahead=2)
    appointment = book(clinic, clinic.at(day, time(10)))
    old_keys = {m.key for m in reminders(appointment)}
    services.reschedule(appointment, start=clinic.at(day, time(14)))
    new = reminders(appointment)
    assert len(new) == 3 and not old_keys & {m.key for m in new}
    assert all(m.body.count("2:00 PM") == 1 for m in new)
    assert len(reminders(appointment, Status.CANCELLED)) == 3
    services.cancel(appointment, reason="Feeling better")
    assert reminders(appointment) == []
    assert len(reminders(appointment, Status.CANCELLED)) == 6


def test_quiet_hours_defer_at_planning_with_the_reason(clinic):
    # 08:30 visit: "2 hours before" is 06:30 local, inside quiet hours -> moved to 08:00.
    day = clinic.next_weekday(3, weeks_ahead=2)
    appointment = book(clinic, clinic.at(day, time(8, 30)))
    two_hours = [
        m
        for m in reminders(appointment, Status.SKIPPED)
        if appointment.start - timedelta(hours=3) < m.due_at
    ]
    assert len(two_hours) == 1
    assert "quiet hours" in two_hours[0].reason and "too close" in two_hours[0].reason
    # 7-day reminder: 08:30 local a week before, allowed.
    assert reminders(appointment)[0].due_at == appointment.start - timedelta(days=7)


def test_no_phone_falls_back_to_email(clinic):
    clinic.patient.phone = ""
    clinic.patient.save()
    appointment = book(clinic, clinic.at(clinic.next_weekday(1, weeks_ahead=2), time(10)))
    planned = reminders(appointment)
    assert {m.channel for m in planned} == {"email"}
    assert planned[0].recipient == clinic.patient.email
    assert "fallback from sms" in planned[0].reason
    assert planned[0].subject and "Dr Elena Ortiz" in planned[0].html


def test_opted_out_everywhere_is_recorded_as_skipped_with_why(clinic):
    consent.set_consent(clinic.patient, "sms", opted_out=True, source="admin")
    consent.set_consent(clinic.patient, "email", opted_out=True, source="admin")
    appointment = book(clinic, clinic.at(clinic.next_weekday(1, weeks_ahead=2), time(10)))
    skipped = reminders(appointment, Status.SKIPPED)
    assert len(skipped) == 3 and reminders(appointment) == []
    assert all("opted out" in m.reason for m in skipped)


def test_planning_twice_is_idempotent(clinic):
    appointment = book(clinic, clinic.at(clinic.next_weekday(1, weeks_ahead=2), time(10)))
    plan_for_appointment(appointment)
    plan_for_appointment(appointment)
    assert OutboundMessage.objects.filter(appointment=appointment).count() == 3

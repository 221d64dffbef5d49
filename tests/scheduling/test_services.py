"""The booking services: rules, clear errors, nothing half-saved, history, time zones."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from scheduling import services
from scheduling.models import (
    Appointment,
    AppointmentChange,
    AppointmentStatus,
    ClinicClosure,
    TimeOff,
)
from scheduling.signals import appointment_changed
from tests import factories

pytestmark = pytest.mark.django_db


def book(clinic, start, **kwargs):
    params = dict(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=start,
        actor="test",
    )
    params.update(kwargs)
    return services.book(**params)


def test_book_stores_utc_times_with_buffer_and_history(clinic):
    day = clinic.next_weekday(0)
    appointment = book(clinic, clinic.at(day, time(9, 0)))
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.start == clinic.at(day, time(9, 0))
    assert appointment.end - appointment.start == timedelta(minutes=30)
    assert appointment.blocked_until - appointment.end == timedelta(minutes=10)
    assert appointment.local_start.strftime("%H:%M") == "09:00"
    change = AppointmentChange.objects.get(appointment=appointment)
    assert (change.action, change.actor_label) == ("booked", "test")


@pytest.mark.parametrize(
    ("clock", "weekday", "code"),
    [
        (time(7, 30), 0, "outside_hours"),  # before opening
        (time(16, 45), 0, "outside_hours"),  # would end after 17:00
        (time(12, 15), 0, "break"),  # lunch
        (time(11, 45), 0, "break"),  # runs into lunch
        (time(10, 0), 5, "outside_hours"),  # Saturday
    ],
)
def test_booking_outside_working_time_is_refused(clinic, clock, weekday, code):
    with pytest.raises(services.SchedulingError) as excinfo:
        book(clinic, clinic.at(clinic.next_weekday(weekday), clock))
    assert excinfo.value.code == code
    assert Appointment.objects.count() == 0
    assert AppointmentChange.objects.count() == 0


def test_time_off_and_closures_block_booking(clinic):
    day = clinic.next_weekday(1)
    TimeOff.objects.create(
        provider=clinic.provider,
        start=clinic.at(day, time(8)),
        end=clinic.at(day, time(11)),
        reason="Conference",
    )
    with pytest.raises(services.SchedulingError, match="is off"):
        book(clinic, clinic.at(day, time(10, 0)))
    book(clinic, clinic.at(day, time(11, 0)))  # after the time off ends: fine

    other_day = clinic.next_weekday(2)
    ClinicClosure.objects.create(start_date=other_day, end_date=other_day, reason="Holiday")
    with pytest.raises(services.SchedulingError, match="closed") as excinfo:
        book(clinic, clinic.at(other_day, time(10, 0)))
    assert excinfo.value.code == "closed"
    assert Appointment.objects.count() == 1


def test_ineligible_provider_wrong_location_and_past_are_refused(clinic):
    cardiology = factories.SpecialtyFactory(name="Cardiology")
    echo = factories.AppointmentTypeFactory(name="Echo", specialties=[cardiology])
    day = clinic.next_weekday(0)
    with pytest.raises(services.SchedulingError, match="cannot see 'Echo'"):
        book(clinic, clinic.at(day, time(9)), appointment_type=echo)
    elsewhere = factories.LocationFactory(name="Elsewhere")
    with pytest.raises(services.SchedulingError, match="does not work at Elsewhere"):
        book(clinic, clinic.at(day, time(9)), location=elsewhere)
    with pytest.raises(services.SchedulingError, match="in the past"):
        book(clinic, timezone.now() - timedelta(days=1))
    with pytest.raises(services.SchedulingError, match="time zone"):
        book(clinic, datetime.combine(day, time(9)))
    assert Appointment.objects.count() == 0


def test_provider_cannot_be_double_booked_including_buffer(clinic):
    day = clinic.next_weekday(0)
    book(clinic, clinic.at(day, time(9, 0)))  # 09:00-09:30, blocked until 09:40
    other = factories.PatientFactory(home_location=clinic.location)
    with pytest.raises(services.SchedulingError) as excinfo:
        book(clinic, clinic.at(day, time(9, 35)), patient=other)
    assert excinfo.value.code == "provider_busy"
    book(clinic, clinic.at(day, time(9, 40)), patient=other)  # right after the buffer
    assert Appointment.objects.count() == 2


def test_patient_cannot_be_in_two_places(clinic):
    day = clinic.next_weekday(0)
    book(clinic, clinic.at(day, time(9, 0)))
    second = factories.ProviderFactory(specialty=clinic.specialty, locations=[clinic.location])
    factories.WorkingHoursFactory(provider=second, location=clinic.location, weekday=day.weekday())
    with pytest.raises(services.SchedulingError) as excinfo:
        book(clinic, clinic.at(day, time(9, 15)), provider=second)
    assert excinfo.value.code == "patient_busy"


def test_cancel_needs_a_reason_and_frees_the_slot(clinic):
    day = clinic.next_weekday(0)
    appointment = book(clinic, clinic.at(day, time(9)))
    with pytest.raises(services.SchedulingError, match="why"):
        services.cancel(appointment, reason="  ")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    services.cancel(appointment, reason="Feeling better", actor="front desk")
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancel_reason) == ("cancelled", "Feeling better")
    other = factories.PatientFactory(home_location=clinic.location)
    book(clinic, clinic.at(day, time(9)), patient=other)
    with pytest.raises(services.SchedulingError, match="cannot be cancelled"):
        services.cancel(appointment, reason="again")


def test_reschedule_moves_checks_and_requires_new_confirmation(clinic):
    day = clinic.next_weekday(0)
    appointment = services.confirm(book(clinic, clinic.at(day, time(9))))
    assert appointment.status == AppointmentStatus.CONFIRMED
    # Moving it by 10 minutes overlaps only itself: allowed.
    moved = services.reschedule(appointment, start=clinic.at(day, time(9, 10)), actor="desk")
    assert moved.start == clinic.at(day, time(9, 10))
    assert moved.status == AppointmentStatus.BOOKED
    change = moved.changes.first()
    assert change.action == "rescheduled" and set(change.changes) == {"start", "status"}
    with pytest.raises(services.SchedulingError, match="overlaps .*lunch"):
        services.reschedule(moved, start=clinic.at(day, time(12, 0)))
    moved.refresh_from_db()
    assert moved.start == clinic.at(day, time(9, 10))


def test_outcomes_only_after_the_start_and_confirm_is_idempotent(clinic):
    day = clinic.next_weekday(0)
    appointment = book(clinic, clinic.at(day, time(9)))
    with pytest.raises(services.SchedulingError, match="not started"):
        services.mark_outcome(appointment, outcome=AppointmentStatus.COMPLETED)
    services.confirm(appointment)
    services.confirm(appointment)
    assert appointment.changes.filter(action="confirmed").count() == 1
    with time_machine.travel(clinic.at(day, time(10)), tick=False):
        done = services.mark_outcome(appointment, outcome=AppointmentStatus.COMPLETED)
        assert done.status == AppointmentStatus.COMPLETED
        with pytest.raises(services.SchedulingError, match="cannot be marked no-show"):
            services.mark_outcome(appointment, outcome=AppointmentStatus.NO_SHOW)
        with pytest.raises(services.SchedulingError, match="either completed or no-show"):
            services.mark_outcome(appointment, outcome="booked")


def test_signal_is_sent_inside_the_transaction(clinic):
    seen = []

    def listener(sender, appointment, action, previous, actor_label, **kwargs):
        seen.append((appointment.pk, action, actor_label))

    appointment_changed.connect(listener)
    try:
        appointment = book(clinic, clinic.at(clinic.next_weekday(0), time(9)))
        services.cancel(appointment, reason="Sick", actor="sms")
    finally:
        appointment_changed.disconnect(listener)
    assert seen == [(appointment.pk, "booked", "test"), (appointment.pk, "cancelled", "sms")]


def test_working_hours_follow_local_time_across_dst(clinic):
    """09:00 Chicago is 15:00 UTC in winter and 14:00 UTC in summer; both are bookable."""
    zone = ZoneInfo("America/Chicago")
    year = date.today().year + 1
    winter, summer = date(year, 1, 12), date(year, 7, 13)
    winter += timedelta(days=(0 - winter.weekday()) % 7)
    summer += timedelta(days=(0 - summer.weekday()) % 7)
    a = book(clinic, datetime.combine(winter, time(9), tzinfo=zone))
    b = book(clinic, datetime.combine(summer, time(9), tzinfo=zone))
    assert a.start.astimezone(ZoneInfo("UTC")).hour == 15
    assert b.start.astimezone(ZoneInfo("UTC")).hour == 14
    # 07:30 local in summer is 12:30 UTC: outside hours even though 12:30 UTC is 06:30 winter.
    with pytest.raises(services.SchedulingError, match="does not work"):
        book(clinic, datetime.combine(summer, time(7, 30), tzinfo=zone))


def test_local_to_aware_refuses_a_time_the_clocks_skip():
    spring_forward = date(2026, 3, 8)
    with pytest.raises(services.SchedulingError, match="does not exist"):
        services.local_to_aware(spring_forward, time(2, 30), "America/Chicago")
    aware = services.local_to_aware(spring_forward, time(3, 30), "America/Chicago")
    assert aware.utcoffset() == timedelta(hours=-5)

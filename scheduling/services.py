"""Booking workflows: book, cancel, reschedule, confirm, check in and record the outcome.

Every change to an appointment goes through these functions (admin, tasks, patient pages and
tests alike). Each runs in one transaction, locks the provider and patient rows so two bookings
for the same person cannot interleave, keeps a history row and tells other apps through
`scheduling.signals.appointment_changed`. On PostgreSQL an exclusion constraint is the last line
of defence against overlapping bookings.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentChange,
    AppointmentStatus,
    AppointmentType,
    ClinicClosure,
    CreatedVia,
    Location,
    Patient,
    Provider,
    TimeOff,
    WorkingHours,
)
from scheduling.signals import appointment_changed

log = logging.getLogger(__name__)

Actor = AbstractBaseUser | str | None


class SchedulingError(ValidationError):
    """A booking rule was broken; the message says what to fix. Nothing was saved."""


@dataclass(frozen=True)
class BookingTimes:
    start: datetime
    end: datetime
    blocked_until: datetime


def _actor(actor: Actor) -> tuple[Any, str]:
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        return None, actor[:60]
    return actor, (actor.get_username() or f"user #{actor.pk}")[:60]


def _record(appointment: Appointment, actor: Actor, action: str, changes: dict) -> None:
    user, label = _actor(actor)
    AppointmentChange.objects.create(
        appointment=appointment, actor=user, actor_label=label, action=action, changes=changes
    )
    appointment_changed.send(
        sender=Appointment,
        appointment=appointment,
        action=action,
        previous={k: v[0] for k, v in changes.items()},
        actor_label=label,
    )
    log.info("appointment %s %s by %s", appointment.pk, action, label)


def lock_for_booking(provider_ids: list[int], patient_id: int) -> None:
    """Serialise bookings per provider and patient (ids in order, so no deadlocks)."""
    list(
        Provider.objects.select_for_update()
        .filter(pk__in=sorted(set(provider_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    list(Patient.objects.select_for_update().filter(pk=patient_id).values_list("pk", flat=True))


def check_booking(
    *,
    patient: Patient,
    provider: Provider,
    location: Location,
    appointment_type: AppointmentType,
    start: datetime,
    exclude: Appointment | None = None,
    allow_past: bool = False,
) -> BookingTimes:
    """Raise SchedulingError unless this visit can be booked; return its times (aware, UTC)."""
    if start is None or timezone.is_naive(start):
        raise SchedulingError(
            "The start time needs a date, a time and a time zone.", code="naive_start"
        )
    if not provider.active:
        raise SchedulingError(f"{provider} is not an active provider.", code="inactive_provider")
    if not provider.locations.filter(pk=location.pk).exists():
        raise SchedulingError(f"{provider} does not work at {location}.", code="wrong_location")
    if not appointment_type.active:
        raise SchedulingError(f"'{appointment_type}' is no longer offered.", code="inactive_type")
    if not appointment_type.specialties.filter(pk=provider.specialty_id).exists():
        raise SchedulingError(
            f"{provider} ({provider.specialty}) cannot see '{appointment_type}' visits.",
            code="ineligible_provider",
        )
    end = start + appointment_type.duration
    blocked_until = end + appointment_type.buffer_after
    if not allow_past and start < timezone.now():
        raise SchedulingError("That time is in the past.", code="past")

    zone = location.zone
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_end.date() != local_start.date():
        raise SchedulingError("A visit cannot run past midnight.", code="outside_hours")
    hours = (
        WorkingHours.objects.filter(
            provider=provider,
            location=location,
            weekday=local_start.weekday(),
            start_time__lte=local_start.time(),
            end_time__gte=local_end.time(),
        )
        .prefetch_related("breaks")
        .first()
    )
    if hours is None:
        raise SchedulingError(
            f"{provider} does not work at {location} on {local_start:%A} "
            f"{local_start:%H:%M}-{local_end:%H:%M} (local time).",
            code="outside_hours",
        )
    for pause in hours.breaks.all():
        if local_start.time() < pause.end_time and pause.start_time < local_end.time():
            raise SchedulingError(
                f"That overlaps {provider}'s {pause.label.lower() or 'break'} "
                f"({pause.start_time:%H:%M}-{pause.end_time:%H:%M}).",
                code="break",
            )
    if TimeOff.objects.filter(provider=provider, start__lt=end, end__gt=start).exists():
        raise SchedulingError(f"{provider} is off at that time.", code="time_off")
    closure = ClinicClosure.objects.filter(
        Q(location=location) | Q(location__isnull=True),
        start_date__lte=local_start.date(),
        end_date__gte=local_start.date(),
    ).first()
    if closure is not None:
        where = location if closure.location_id else "The clinic"
        raise SchedulingError(f"{where} is closed on {local_start:%Y-%m-%d}.", code="closed")

    others = Appointment.objects.exclude(status=AppointmentStatus.CANCELLED)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    if others.filter(provider=provider, start__lt=blocked_until, blocked_until__gt=start).exists():
        raise SchedulingError(
            f"{provider} already has an appointment at that time.", code="provider_busy"
        )
    if others.filter(patient=patient, start__lt=end, end__gt=start).exists():
        raise SchedulingError(
            "The patient already has an appointment at that time.", code="patient_busy"
        )
    return BookingTimes(start=start, end=end, blocked_until=blocked_until)


def _save_new(appointment: Appointment) -> Appointment:
    try:
        with transaction.atomic():
            appointment.save()
    except IntegrityError as exc:
        # The exclusion constraint caught an overlap that slipped past the checks.
        raise SchedulingError(
            "That slot was just taken; choose another time.", code="slot_taken"
        ) from exc
    return appointment


@transaction.atomic
def book(
    *,
    patient: Patient,
    provider: Provider,
    location: Location,
    appointment_type: AppointmentType,
    start: datetime,
    actor: Actor = None,
    via: str = CreatedVia.ADMIN,
    notes: str = "",
    instance: Appointment | None = None,
    allow_past: bool = False,
) -> Appointment:
    """Book a visit at `start` (aware) or raise SchedulingError, saving nothing."""
    lock_for_booking([provider.pk], patient.pk)
    times = check_booking(
        patient=patient,
        provider=provider,
        location=location,
        appointment_type=appointment_type,
        start=start,
        allow_past=allow_past,
    )
    appointment = instance or Appointment()
    appointment.patient, appointment.provider = patient, provider
    appointment.location, appointment.appointment_type = location, appointment_type
    appointment.start, appointment.end = times.start, times.end
    appointment.blocked_until = times.blocked_until
    appointment.status = AppointmentStatus.BOOKED
    appointment.created_via = via
    appointment.created_by = _actor(actor)[0]
    appointment.notes = notes or appointment.notes
    _save_new(appointment)
    _record(
        appointment,
        actor,
        "booked",
        {"start": [None, times.start.isoformat()], "provider": [None, provider.pk]},
    )
    return appointment


def _locked(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update()
        .select_related("location", "provider", "patient", "appointment_type")
        .get(pk=appointment.pk)
    )


@transaction.atomic
def cancel(appointment: Appointment, *, reason: str, actor: Actor = None) -> Appointment:
    """Cancel an upcoming or current visit; the reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise SchedulingError("Say why the appointment is cancelled.", code="reason_required")
    current = _locked(appointment)
    if current.status not in ACTIVE_STATUSES:
        raise SchedulingError(
            f"A {current.get_status_display().lower()} appointment cannot be cancelled.",
            code="bad_status",
        )
    previous = current.status
    current.status, current.cancel_reason = AppointmentStatus.CANCELLED, reason[:200]
    current.cancelled_at = timezone.now()
    current.save(update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"])
    _record(
        current,
        actor,
        "cancelled",
        {"status": [previous, current.status], "cancel_reason": ["", current.cancel_reason]},
    )
    return current


@transaction.atomic
def reschedule(
    appointment: Appointment,
    *,
    start: datetime,
    provider: Provider | None = None,
    location: Location | None = None,
    actor: Actor = None,
) -> Appointment:
    """Move a visit to a new start (and optionally provider/location); it needs confirming again."""
    current = _locked(appointment)
    if current.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED):
        raise SchedulingError(
            f"A {current.get_status_display().lower()} appointment cannot be rescheduled.",
            code="bad_status",
        )
    new_provider = provider or current.provider
    new_location = location or current.location
    lock_for_booking([current.provider_id, new_provider.pk], current.patient_id)
    times = check_booking(
        patient=current.patient,
        provider=new_provider,
        location=new_location,
        appointment_type=current.appointment_type,
        start=start,
        exclude=current,
    )
    changes: dict[str, list] = {}
    if times.start != current.start:
        changes["start"] = [current.start.isoformat(), times.start.isoformat()]
    if new_provider.pk != current.provider_id:
        changes["provider"] = [current.provider_id, new_provider.pk]
    if new_location.pk != current.location_id:
        changes["location"] = [current.location_id, new_location.pk]
    if not changes:
        return current
    if current.status != AppointmentStatus.BOOKED:
        changes["status"] = [current.status, AppointmentStatus.BOOKED]
    current.provider, current.location = new_provider, new_location
    current.start, current.end, current.blocked_until = times.start, times.end, times.blocked_until
    current.status = AppointmentStatus.BOOKED
    try:
        with transaction.atomic():
            current.save()
    except IntegrityError as exc:
        raise SchedulingError(
            "That slot was just taken; choose another time.", code="slot_taken"
        ) from exc
    _record(current, actor, "rescheduled", changes)
    return current


def _transition(
    appointment: Appointment,
    *,
    to: str,
    allowed_from: tuple[str, ...],
    actor: Actor,
    past_only: bool = False,
) -> Appointment:
    current = _locked(appointment)
    if current.status == to:
        return current  # idempotent: a repeated confirmation or outcome changes nothing
    if current.status not in allowed_from:
        raise SchedulingError(
            f"A {current.get_status_display().lower()} appointment cannot be marked "
            f"{AppointmentStatus(to).label.lower()}.",
            code="bad_status",
        )
    if past_only and current.start > timezone.now():
        raise SchedulingError("That appointment has not started yet.", code="not_started")
    previous = current.status
    current.status = to
    current.save(update_fields=["status", "updated_at"])
    _record(current, actor, to, {"status": [previous, to]})
    return current


@transaction.atomic
def confirm(appointment: Appointment, *, actor: Actor = None) -> Appointment:
    """The patient confirmed they will come."""
    return _transition(
        appointment,
        to=AppointmentStatus.CONFIRMED,
        allowed_from=(AppointmentStatus.BOOKED,),
        actor=actor,
    )


@transaction.atomic
def check_in(appointment: Appointment, *, actor: Actor = None) -> Appointment:
    """The patient arrived."""
    return _transition(
        appointment,
        to=AppointmentStatus.CHECKED_IN,
        allowed_from=(AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED),
        actor=actor,
    )


@transaction.atomic
def mark_outcome(appointment: Appointment, *, outcome: str, actor: Actor = None) -> Appointment:
    """Record how a visit that has started ended: completed or no-show."""
    if outcome == AppointmentStatus.COMPLETED:
        allowed = ACTIVE_STATUSES
    elif outcome == AppointmentStatus.NO_SHOW:
        allowed = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
    else:
        raise SchedulingError("The outcome is either completed or no-show.", code="bad_outcome")
    return _transition(appointment, to=outcome, allowed_from=allowed, actor=actor, past_only=True)


def local_to_aware(day: date, clock: time, zone_name: str) -> datetime:
    """A local date and wall-clock time in `zone_name` as an aware datetime.

    Raises SchedulingError for a time skipped by a clock change; an ambiguous time (the repeated
    hour in autumn) is read as the first occurrence.
    """
    zone = zoneinfo.ZoneInfo(zone_name)
    naive = datetime.combine(day, clock)
    aware = naive.replace(tzinfo=zone)
    round_trip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        raise SchedulingError(
            f"{clock:%H:%M} does not exist on {day} in {zone_name} (the clocks change).",
            code="nonexistent_time",
        )
    return aware

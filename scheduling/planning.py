"""The bridge between the database and the pure solver core (slots, suggest, optimizer).

Reads providers, hours, time off, closures and bookings into `scheduling.slots` dataclasses,
turns waitlist rows and appointments into `BookingRequest`s, and maps answers back to model
instances. Nothing here decides anything; the pure modules do.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from scheduling import slots
from scheduling.models import (
    Appointment,
    AppointmentRequest,
    AppointmentStatus,
    AppointmentType,
    ClinicClosure,
    Location,
    Provider,
    TimeOff,
    WorkingHours,
)
from scheduling.suggest import BookingRequest, SuggestionResult, suggest


def _eligible_provider_ids(kind: AppointmentType) -> set[int]:
    return set(
        Provider.objects.filter(active=True, specialty__in=kind.specialties.all()).values_list(
            "pk", flat=True
        )
    )


def snapshot(
    start: datetime,
    end: datetime,
    *,
    grid_minutes: int = 15,
    exclude_appointment: int | None = None,
) -> slots.Clinic:
    """The clinic between `start` and `end` (aware) as plain data for the solver."""
    providers = list(Provider.objects.filter(active=True).select_related("specialty"))
    locations = list(Location.objects.all())
    types = list(AppointmentType.objects.filter(active=True))
    hours = WorkingHours.objects.filter(provider__active=True).prefetch_related("breaks")
    busy = Appointment.objects.exclude(status=AppointmentStatus.CANCELLED).filter(
        start__lt=end + timedelta(days=1), blocked_until__gt=start - timedelta(days=1)
    )
    if exclude_appointment is not None:
        busy = busy.exclude(pk=exclude_appointment)
    closures = []
    for closure in ClinicClosure.objects.filter(
        start_date__lte=end.date() + timedelta(days=1),
        end_date__gte=start.date() - timedelta(days=1),
    ):
        for location in locations:
            if closure.location_id in (None, location.pk):
                closures.append(
                    slots.closure_for_days(
                        slots.Location(str(location.pk), location.name, location.time_zone),
                        closure.start_date,
                        closure.end_date,
                    )
                )
    return slots.Clinic(
        providers=[
            slots.Provider(str(p.pk), p.display_name, frozenset({p.specialty.name}))
            for p in providers
        ],
        locations=[slots.Location(str(loc.pk), loc.name, loc.time_zone) for loc in locations],
        appointment_types=[
            slots.AppointmentType(str(t.pk), t.name, t.duration_minutes, t.buffer_after_minutes)
            for t in types
        ],
        working_hours=[
            slots.WorkingHours(
                str(h.provider_id),
                str(h.location_id),
                h.weekday,
                h.start_time,
                h.end_time,
                tuple((b.start_time, b.end_time) for b in h.breaks.all()),
            )
            for h in hours
        ],
        time_off=[
            slots.TimeOff(str(t.provider_id), t.start, t.end)
            for t in TimeOff.objects.filter(start__lt=end, end__gt=start)
        ],
        closures=closures,
        appointments=[
            slots.ExistingAppointment(
                str(a.pk),
                str(a.provider_id),
                a.start,
                a.end,
                int((a.blocked_until - a.end).total_seconds() // 60),
                str(a.patient_id),
                str(a.location_id),
            )
            for a in busy
        ],
        grid_minutes=grid_minutes,
    )


def _local_midnight(day: date, zone_name: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone_name))


def booking_request(
    row: AppointmentRequest, *, not_before: datetime | None = None
) -> BookingRequest:
    """A waitlist row as the solver's request; its window is whole local days."""
    zone = (row.location or row.patient.home_location).time_zone
    lo = _local_midnight(row.earliest_date, zone)
    hi = _local_midnight(row.latest_date + timedelta(days=1), zone)
    if not_before is not None:
        lo = max(lo, not_before)
    eligible = _eligible_provider_ids(row.appointment_type)
    chosen = set(row.acceptable_providers.values_list("pk", flat=True)) or eligible
    return BookingRequest(
        id=str(row.pk),
        patient_id=str(row.patient_id),
        type_id=str(row.appointment_type_id),
        window_start=lo,
        window_end=max(hi, lo),
        providers=frozenset(str(p) for p in chosen & eligible),
        preferred_weekdays=frozenset(int(d) for d in row.preferred_weekdays or []),
        preferred_times=frozenset(row.preferred_times or []),
        urgency=row.urgency,
        usual_provider_id=str(row.patient.usual_provider_id or "") or None,
        location_id=str(row.location_id) if row.location_id else None,
    )


def suggest_for_request(row: AppointmentRequest, k: int = 5) -> SuggestionResult:
    """The k best slots for a waitlist row, from one hour from now on."""
    not_before = timezone.now() + timedelta(hours=1)
    request = booking_request(row, not_before=not_before)
    if request.window_end <= request.window_start:
        return SuggestionResult((), "the request's window has already passed")
    if not request.providers:
        return SuggestionResult(
            (), f"no active provider may see '{row.appointment_type}' among the acceptable ones"
        )
    clinic = snapshot(request.window_start, request.window_end)
    return suggest(clinic, request, k=k)


def suggest_for_appointment(
    appointment: Appointment, *, days: int = 21, k: int = 5
) -> SuggestionResult:
    """Other slots for the same visit (self-reschedule): same type and location."""
    lo = timezone.now() + timedelta(hours=2)
    hi = lo + timedelta(days=days)
    eligible = _eligible_provider_ids(appointment.appointment_type)
    request = BookingRequest(
        id=f"appt-{appointment.pk}",
        patient_id=str(appointment.patient_id),
        type_id=str(appointment.appointment_type_id),
        window_start=lo,
        window_end=hi,
        providers=frozenset(str(p) for p in eligible),
        usual_provider_id=str(appointment.provider_id),
        location_id=str(appointment.location_id),
    )
    clinic = snapshot(lo, hi, exclude_appointment=appointment.pk)
    return suggest(clinic, request, k=k)


def waitlist_rows(day_from: date, day_to: date):
    """Open requests whose window meets [day_from, day_to]."""
    return (
        AppointmentRequest.objects.filter(status="open")
        .filter(Q(earliest_date__lte=day_to) & Q(latest_date__gte=day_from))
        .select_related("patient__home_location", "appointment_type", "location")
        .prefetch_related("acceptable_providers")
    )

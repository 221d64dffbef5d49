"""Patients, providers, locations, working time, appointments and the waitlist.

Times are aware and stored in UTC; each location's IANA zone says how they are shown and how
weekly hours (local wall-clock times) map onto real instants.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "%(value)s is not a known time zone; use an IANA name such as America/Chicago.",
            params={"value": value},
            code="invalid_time_zone",
        ) from None


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Español"


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class Location(models.Model):
    name = models.CharField(max_length=120, unique=True)
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    phone = PhoneNumberField(blank=True)
    time_zone = models.CharField(
        max_length=64, validators=[validate_time_zone], help_text="IANA name, e.g. America/Chicago."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @property
    def address(self) -> str:
        parts = [
            self.address_line1,
            self.address_line2,
            f"{self.city}, {self.state} {self.postal_code}".strip(", "),
        ]
        return ", ".join(p for p in parts if p)


class Specialty(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "specialties"

    def __str__(self) -> str:
        return self.name


class Provider(models.Model):
    title = models.CharField(max_length=20, blank=True, help_text="e.g. Dr, NP, PA")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    specialty = models.ForeignKey(Specialty, on_delete=models.PROTECT, related_name="providers")
    locations = models.ManyToManyField(Location, related_name="providers")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return f"{self.title} {self.first_name} {self.last_name}".strip()


class VisitKind(models.TextChoices):
    NEW = "new", "New patient"
    FOLLOW_UP = "follow_up", "Follow-up"
    ANY = "any", "New or follow-up"


class AppointmentType(models.Model):
    name = models.CharField(max_length=100, unique=True)
    name_es = models.CharField("name (Spanish)", max_length=100, blank=True)
    duration_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(5), MaxValueValidator(480)]
    )
    buffer_after_minutes = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(120)],
        help_text="Time the provider needs after the visit before the next one.",
    )
    specialties = models.ManyToManyField(
        Specialty,
        related_name="appointment_types",
        help_text="Providers of these specialties may see it.",
    )
    visit_kind = models.CharField(max_length=10, choices=VisitKind.choices, default=VisitKind.ANY)
    preparation_instructions = models.TextField(blank=True)
    preparation_instructions_es = models.TextField("preparation instructions (Spanish)", blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)


class WorkingHours(models.Model):
    """One weekly block of a provider's time at a location, in the location's wall-clock time."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="working_hours")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="working_hours")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["provider", "weekday", "start_time"]
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")),
                name="working_hours_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M} "
            f"at {self.location}"
        )

    def clean(self) -> None:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValidationError({"end_time": "The end must be after the start."})
        if (
            self.provider_id
            and self.location_id
            and not self.provider.locations.filter(pk=self.location_id).exists()
        ):
            raise ValidationError({"location": "This provider does not work at this location."})


class Break(models.Model):
    working_hours = models.ForeignKey(WorkingHours, on_delete=models.CASCADE, related_name="breaks")
    start_time = models.TimeField()
    end_time = models.TimeField()
    label = models.CharField(max_length=60, blank=True, default="Lunch")

    class Meta:
        ordering = ["start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")), name="break_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def clean(self) -> None:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValidationError({"end_time": "The end must be after the start."})


class TimeOff(models.Model):
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="time_off")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-start"]
        verbose_name_plural = "time off"
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="time_off_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} off {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "The end must be after the start."})


class ClinicClosure(models.Model):
    """Whole local days a location (or, with no location, every location) is closed."""

    location = models.ForeignKey(
        Location,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="closures",
        help_text="Empty: all locations.",
    )
    start_date = models.DateField()
    end_date = models.DateField(help_text="Inclusive.")
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="closure_end_not_before_start",
            ),
        ]

    def __str__(self) -> str:
        where = self.location or "all locations"
        return f"{where} closed {self.start_date} to {self.end_date}"

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": "The last day cannot be before the first."})


class Patient(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    phone = PhoneNumberField(blank=True, help_text="Mobile number; stored in E.164 (+15551234567).")
    email = models.EmailField(blank=True)
    preferred_language = models.CharField(
        max_length=2, choices=Language.choices, default=Language.ENGLISH
    )
    home_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="patients")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Empty: the home location's zone.",
    )
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.SMS
    )
    usual_provider = models.ForeignKey(
        Provider, on_delete=models.SET_NULL, null=True, blank=True, related_name="usual_patients"
    )
    record_number = models.CharField(
        max_length=40,
        unique=True,
        null=True,
        blank=True,
        help_text="Medical record number (optional).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["phone"]), models.Index(fields=["last_name", "first_name"])]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def effective_time_zone(self) -> str:
        return self.time_zone or self.home_location.time_zone

    def clean(self) -> None:
        if not self.phone and not self.email:
            raise ValidationError("Give the patient a mobile number or an email address.")
        if self.preferred_channel == Channel.SMS and not self.phone and self.email:
            raise ValidationError({"preferred_channel": "SMS needs a mobile number."})
        if self.preferred_channel == Channel.EMAIL and not self.email:
            raise ValidationError({"preferred_channel": "Email needs an email address."})
        if self.date_of_birth and self.date_of_birth > date.today():
            raise ValidationError({"date_of_birth": "The date of birth is in the future."})
        if self.record_number == "":
            self.record_number = None


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    CONFIRMED = "confirmed", "Confirmed"
    CHECKED_IN = "checked_in", "Checked in"
    COMPLETED = "completed", "Completed"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
)


class CreatedVia(models.TextChoices):
    ADMIN = "admin", "Front desk (admin)"
    PATIENT = "patient", "Patient (self-service)"
    WAITLIST = "waitlist", "Waitlist offer"
    OPTIMIZER = "optimizer", "Batch optimiser"
    IMPORT = "import", "Import"
    DEMO = "demo", "Demo data"
    API = "api", "API / script"


class Appointment(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField(db_index=True)
    end = models.DateTimeField()
    # end + the type's buffer: what the provider's calendar is blocked until. The database's
    # exclusion constraint (PostgreSQL) works on [start, blocked_until).
    blocked_until = models.DateTimeField()
    status = models.CharField(
        max_length=12,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.BOOKED,
        db_index=True,
    )
    cancel_reason = models.CharField(max_length=200, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_via = models.CharField(
        max_length=12, choices=CreatedVia.choices, default=CreatedVia.ADMIN
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        indexes = [
            models.Index(fields=["provider", "start"]),
            models.Index(fields=["patient", "start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="appointment_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(blocked_until__gte=models.F("end")),
                name="appointment_blocked_covers_visit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type} with {self.provider} at {self.local_start:%Y-%m-%d %H:%M}"

    @property
    def local_start(self) -> datetime:
        return timezone.localtime(self.start, self.location.zone)

    @property
    def local_end(self) -> datetime:
        return timezone.localtime(self.end, self.location.zone)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class AppointmentChange(models.Model):
    """The history of an appointment: who changed what, when."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=60, help_text="Who or what, when not a user.")
    action = models.CharField(max_length=30)
    changes = models.JSONField(default=dict, help_text="{field: [old, new]}")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label} at {self.at:%Y-%m-%d %H:%M}"


class TimeOfDay(models.TextChoices):
    MORNING = "morning", "Morning (before 12:00)"
    AFTERNOON = "afternoon", "Afternoon (12:00-17:00)"
    EVENING = "evening", "Evening (after 17:00)"


class RequestStatus(models.TextChoices):
    OPEN = "open", "Waiting"
    OFFERED = "offered", "Offer sent"
    BOOKED = "booked", "Booked"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


class AppointmentRequest(models.Model):
    """A patient's request for an appointment; open requests are the waitlist."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="requests")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="requests"
    )
    acceptable_providers = models.ManyToManyField(
        Provider,
        blank=True,
        related_name="requests",
        help_text="Empty: any provider whose specialty may see this type.",
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="requests",
        help_text="Empty: any location.",
    )
    earliest_date = models.DateField()
    latest_date = models.DateField()
    preferred_weekdays = models.JSONField(
        default=list, blank=True, help_text="Weekday numbers, 0 = Monday."
    )
    preferred_times = models.JSONField(
        default=list, blank=True, help_text="Any of morning, afternoon, evening."
    )
    urgency = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="1 = routine … 5 = urgent.",
    )
    notes = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.OPEN, db_index=True
    )
    booked_appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-urgency", "created_at"]
        verbose_name = "appointment request (waitlist)"
        verbose_name_plural = "appointment requests (waitlist)"
        constraints = [
            models.CheckConstraint(
                condition=Q(latest_date__gte=models.F("earliest_date")),
                name="request_window_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_type} for patient #{self.patient_id}"

    def clean(self) -> None:
        if self.earliest_date and self.latest_date and self.latest_date < self.earliest_date:
            raise ValidationError(
                {"latest_date": "The window is empty: the latest date is before the earliest."}
            )
        bad_days = [d for d in self.preferred_weekdays or [] if d not in range(7)]
        if bad_days:
            raise ValidationError({"preferred_weekdays": "Use weekday numbers 0 (Monday) to 6."})
        allowed = set(TimeOfDay.values)
        if any(t not in allowed for t in self.preferred_times or []):
            raise ValidationError({"preferred_times": f"Use any of {sorted(allowed)}."})

"""Admin forms: the visit's local date and time are typed in the location's own zone."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from scheduling import services
from scheduling.models import Appointment, AppointmentRequest, TimeOfDay


class AppointmentForm(forms.ModelForm):
    """Books or moves a visit through the services, so the same rules apply as everywhere."""

    local_date = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    local_time = forms.TimeField(
        label="Start time (location's local time)",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    class Meta:
        model = Appointment
        fields = ["patient", "provider", "location", "appointment_type", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            local = self.instance.local_start
            self.initial.setdefault("local_date", local.date())
            self.initial.setdefault("local_time", local.time().replace(second=0, microsecond=0))
            if not self.instance.is_active:
                for name in self.fields:
                    self.fields[name].disabled = True
        self.booking_start = None

    def clean(self):
        data = super().clean()
        needed = ["patient", "provider", "location", "appointment_type", "local_date", "local_time"]
        if any(not data.get(name) for name in needed) or self.errors:
            return data
        if self.instance.pk and not self.instance.is_active:
            raise forms.ValidationError("This appointment is closed and cannot be changed.")
        try:
            start = services.local_to_aware(
                data["local_date"], data["local_time"], data["location"].time_zone
            )
            if self.instance.pk:
                unchanged = (
                    start == self.instance.start
                    and data["provider"].pk == self.instance.provider_id
                    and data["location"].pk == self.instance.location_id
                )
                if data["patient"].pk != self.instance.patient_id or (
                    data["appointment_type"].pk != self.instance.appointment_type_id
                ):
                    raise services.SchedulingError(
                        "Patient and visit type cannot change: cancel and book a new visit."
                    )
                if unchanged:
                    return data
            # The admin wraps the whole view in a transaction: these row locks are held until
            # save_model() books, so nobody can take the slot in between.
            services.lock_for_booking(
                [data["provider"].pk] + ([self.instance.provider_id] if self.instance.pk else []),
                data["patient"].pk,
            )
            services.check_booking(
                patient=data["patient"],
                provider=data["provider"],
                location=data["location"],
                appointment_type=data["appointment_type"],
                start=start,
                exclude=self.instance if self.instance.pk else None,
            )
        except services.SchedulingError as exc:
            raise forms.ValidationError(exc.messages) from None
        self.booking_start = start
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        label="Reason for cancelling",
        help_text="Told to nobody but staff; required.",
    )


class AppointmentRequestForm(forms.ModelForm):
    preferred_weekdays = forms.TypedMultipleChoiceField(
        choices=[
            (0, "Mon"),
            (1, "Tue"),
            (2, "Wed"),
            (3, "Thu"),
            (4, "Fri"),
            (5, "Sat"),
            (6, "Sun"),
        ],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    preferred_times = forms.MultipleChoiceField(
        choices=TimeOfDay.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = AppointmentRequest
        fields = [
            "patient",
            "appointment_type",
            "acceptable_providers",
            "location",
            "earliest_date",
            "latest_date",
            "preferred_weekdays",
            "preferred_times",
            "urgency",
            "notes",
            "status",
        ]

    def clean_earliest_date(self):
        value = self.cleaned_data["earliest_date"]
        if not self.instance.pk and value < timezone.localdate():
            raise forms.ValidationError("The earliest date is in the past.")
        return value

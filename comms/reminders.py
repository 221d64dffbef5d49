"""Plan an appointment's reminders from its current state.

Called (through the scheduling signal) inside the transaction that booked, moved, confirmed or
cancelled the visit, so the outbox always matches the appointment: a cancelled visit has no
pending reminders, a moved one has reminders for its new time only, a confirmed one is not asked
to confirm again, and a visit booked inside the cadence gets only the reminders still ahead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from comms import consent
from comms.compose import compose, enqueue_written
from comms.facts import appointment_facts
from comms.links import reschedule_url
from comms.models import OutboundMessage, Purpose, ReminderRule, Status
from comms.outbox import allowed_window, cancel_pending, recipient_for
from comms.quiet_hours import next_allowed_time
from scheduling.models import Appointment, AppointmentStatus, Patient

# A reminder that could only go out this close to the visit is pointless.
TOO_LATE = timedelta(minutes=30)


def rules_for(appointment: Appointment) -> list[ReminderRule]:
    """The cadence for this visit: the most specific matching rule set wins."""
    rules = list(
        ReminderRule.objects.filter(active=True).filter(
            Q(appointment_type__isnull=True) | Q(appointment_type=appointment.appointment_type_id),
            Q(location__isnull=True) | Q(location=appointment.location_id),
        )
    )

    def specificity(rule: ReminderRule) -> int:
        return (rule.appointment_type_id is not None) * 2 + (rule.location_id is not None)

    best = max((specificity(r) for r in rules), default=0)
    return sorted((r for r in rules if specificity(r) == best), key=lambda r: -r.minutes_before)


def choose_channel(patient: Patient) -> tuple[str, str]:
    """The patient's preferred channel if reachable, else the other; (channel, reason)."""
    order = [patient.preferred_channel] + [
        c for c in ("sms", "email") if c != patient.preferred_channel
    ]
    for channel in order:
        if recipient_for(patient, channel) and not consent.is_opted_out(patient.pk, channel):
            reason = (
                ""
                if channel == patient.preferred_channel
                else (f"fallback from {patient.preferred_channel}: not reachable or opted out")
            )
            return channel, reason
    return patient.preferred_channel, "no reachable channel"


def reminder_key(appointment: Appointment, rule: ReminderRule, channel: str) -> str:
    return f"reminder:{appointment.pk}:{int(appointment.start.timestamp())}:{rule.pk}:{channel}"


def plan_for_appointment(
    appointment: Appointment, *, action: str = "", now: datetime | None = None
) -> list[OutboundMessage]:
    """Create the reminders this visit should get and withdraw the ones it no longer should."""
    now = now or timezone.now()
    pending = OutboundMessage.objects.filter(appointment=appointment, purpose=Purpose.REMINDER)
    if not appointment.is_active:
        cancel_pending(pending, f"appointment {appointment.get_status_display().lower()}")
        return []
    patient = appointment.patient
    channel, channel_reason = choose_channel(patient)
    start, end = allowed_window(patient)
    keep: list[str] = []
    planned: list[OutboundMessage] = []
    for rule in rules_for(appointment):
        if rule.asks_to_confirm and appointment.status == AppointmentStatus.CONFIRMED:
            continue
        due = appointment.start - timedelta(minutes=rule.minutes_before)
        if due < now - timedelta(minutes=1):
            continue  # that moment has passed: booked inside the cadence
        due, quiet_reason = next_allowed_time(
            max(due, now), patient.effective_time_zone, start, end
        )
        key = reminder_key(appointment, rule, channel)
        keep.append(key)
        if OutboundMessage.objects.filter(key=key).exists():
            continue
        written = compose(
            patient,
            Purpose.REMINDER,
            channel,
            appointment_facts(
                appointment, patient.preferred_language, link=reschedule_url(appointment)
            ),
            appointment.appointment_type,
        )
        reasons = "; ".join(r for r in (channel_reason, quiet_reason or "") if r)
        message, _ = enqueue_written(
            written,
            key=key,
            patient=patient,
            appointment=appointment,
            channel=channel,
            purpose=Purpose.REMINDER,
            due_at=due,
            reason=reasons,
        )
        if due >= appointment.start - TOO_LATE and message.status == Status.QUEUED:
            OutboundMessage.objects.filter(pk=message.pk).update(
                status=Status.SKIPPED, reason=f"{reasons or 'quiet hours'}: too close to visit"
            )
        planned.append(message)
    why = {"confirmed": "patient confirmed", "rescheduled": "appointment moved"}.get(
        action, "reminder plan changed"
    )
    cancel_pending(pending.exclude(key__in=keep), why)
    return planned


def on_appointment_changed(sender, appointment: Appointment, action: str, **kwargs) -> None:
    plan_for_appointment(appointment, action=action)

"""Survey invitations: one per completed visit, at most one per patient per period, one reminder.

`invite_after_visit` runs inside the scheduling transaction that marked the visit completed (via
`scheduling.signals.appointment_changed`) and writes the invitation and its outbox message
together; the outbox sends it when due, inside the patient's allowed hours. `sweep` (periodic)
follows the outbox rows, sends the single reminder to non-responders and expires old links.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from comms.compose import compose, enqueue_written
from comms.models import OutboundMessage, Purpose, Status
from comms.reminders import choose_channel
from scheduling.links import absolute, make_token
from scheduling.models import Appointment, AppointmentStatus
from surveys import rollup_signals
from surveys.models import Invitation, InvitationStatus, Survey

log = logging.getLogger(__name__)

TOKEN_PURPOSE = "survey"  # noqa: S105 - a signing salt, not a secret
REMINDER_AFTER = timedelta(days=3)
# Invitations a patient can still answer (a sent one may still read "scheduled" until the sweep
# has seen its outbox row).
OPEN_STATUSES = (
    InvitationStatus.SCHEDULED,
    InvitationStatus.SENT,
    InvitationStatus.OPENED,
    InvitationStatus.PARTIAL,
)
_SENT = (Status.SENT, Status.DELIVERED)
_NOT_SENT = (Status.SKIPPED, Status.CANCELLED, Status.FAILED, Status.UNDELIVERED)


def link_max_age_s() -> int:
    """How long a token stays valid, seconds: the send delay plus the link's life."""
    return settings.SURVEY_DELAY_HOURS * 3600 + settings.SURVEY_LINK_DAYS * 86400


def survey_url(invitation: Invitation) -> str:
    """The patient's absolute link; the token names the invitation and nothing else."""
    token = make_token(TOKEN_PURPOSE, invitation.pk)
    return absolute(reverse("surveys:survey", args=[token]))


def choose_survey(appointment: Appointment, language: str) -> Survey | None:
    """The active survey for this visit type in this language, else the general one; English
    when the patient's language has none."""
    for lang in dict.fromkeys([language, "en"]):
        survey = (
            Survey.objects.filter(active=True, language=lang)
            .filter(
                Q(appointment_type=appointment.appointment_type_id)
                | Q(appointment_type__isnull=True)
            )
            .order_by("appointment_type_id", "-pk")  # a type-specific survey first
            .first()
        )
        if survey is not None:
            return survey
    return None


def recently_surveyed(patient_id: int, now: datetime) -> bool:
    """True if the patient was invited within SURVEY_MIN_DAYS_BETWEEN days."""
    since = now - timedelta(days=settings.SURVEY_MIN_DAYS_BETWEEN)
    return (
        Invitation.objects.filter(patient_id=patient_id, created_at__gte=since)
        .exclude(status=InvitationStatus.SKIPPED)
        .exists()
    )


def _skip(appointment: Appointment, now: datetime, reason: str) -> Invitation:
    invitation = Invitation.objects.create(
        appointment=appointment,
        patient=appointment.patient,
        status=InvitationStatus.SKIPPED,
        skip_reason=reason[:200],
        created_at=now,
        expires_at=now,
    )
    log.info("invitation %s skipped for appointment %s", invitation.pk, appointment.pk)
    return invitation


def invite_after_visit(appointment: Appointment, now: datetime | None = None) -> Invitation | None:
    """Create the visit's invitation and its outbox message, or a skipped row saying why.

    Idempotent per visit. The message is due SURVEY_DELAY_HOURS hours from now; the link stays
    valid SURVEY_LINK_DAYS days after that.
    """
    now = now or timezone.now()
    if appointment.status != AppointmentStatus.COMPLETED:
        return None  # never after a no-show or cancellation
    existing = Invitation.objects.filter(appointment=appointment).first()
    if existing is not None:
        return existing
    patient = appointment.patient
    if recently_surveyed(patient.pk, now):
        days = settings.SURVEY_MIN_DAYS_BETWEEN
        return _skip(appointment, now, f"already invited within {days} days")
    language = patient.preferred_language if patient.preferred_language in ("en", "es") else "en"
    survey = choose_survey(appointment, language)
    if survey is None:
        return _skip(appointment, now, "no active survey")
    channel, channel_reason = choose_channel(patient)
    due = now + timedelta(hours=settings.SURVEY_DELAY_HOURS)
    invitation = Invitation.objects.create(
        appointment=appointment,
        patient=patient,
        survey=survey,
        channel=channel,
        created_at=now,
        expires_at=due + timedelta(days=settings.SURVEY_LINK_DAYS),
    )
    invitation.message = _enqueue(invitation, Purpose.SURVEY_INVITE, channel, due, channel_reason)
    if invitation.message.status == Status.SKIPPED:
        invitation.status = InvitationStatus.SKIPPED
        invitation.skip_reason = invitation.message.reason[:200]
    invitation.save(update_fields=["message", "status", "skip_reason"])
    log.info("invitation %s for appointment %s via %s", invitation.pk, appointment.pk, channel)
    return invitation


def _enqueue(
    invitation: Invitation, purpose: str, channel: str, due: datetime, reason: str = ""
) -> OutboundMessage:
    patient = invitation.patient
    location = invitation.appointment.location
    written = compose(
        patient,
        purpose,
        channel,
        {"link": survey_url(invitation), "clinic_phone": str(location.phone or "")},
    )
    kind = "invite" if purpose == Purpose.SURVEY_INVITE else "reminder"
    message, _ = enqueue_written(
        written,
        key=f"survey:{invitation.appointment_id}:{kind}",
        patient=patient,
        appointment=invitation.appointment,
        channel=channel,
        purpose=purpose,
        due_at=due,
        reason=reason,
    )
    return message


def on_appointment_changed(sender, appointment: Appointment, action: str, **kwargs) -> None:
    """Receiver of scheduling.signals.appointment_changed (inside the service transaction)."""
    if action == AppointmentStatus.COMPLETED:
        invite_after_visit(appointment)


# --------------------------------------------------------------------------- the periodic sweep
def follow_messages() -> int:
    """Move scheduled invitations to sent (or skipped) as their outbox rows are decided."""
    changed = 0
    rows = Invitation.objects.filter(status=InvitationStatus.SCHEDULED, message__isnull=False)
    for invitation in rows.select_related("message").only(
        "pk", "status", "message__status", "message__reason"
    ):
        with transaction.atomic():
            if invitation.message.status in _SENT:
                changed += Invitation.objects.filter(
                    pk=invitation.pk, status=InvitationStatus.SCHEDULED
                ).update(status=InvitationStatus.SENT)
            elif invitation.message.status in _NOT_SENT:
                changed += Invitation.objects.filter(
                    pk=invitation.pk, status=InvitationStatus.SCHEDULED
                ).update(
                    status=InvitationStatus.SKIPPED,
                    skip_reason=(invitation.message.reason or invitation.message.status)[:200],
                )
            else:
                continue
            rollup_signals.invitations_changed([invitation.pk])
    return changed


def send_reminders(now: datetime | None = None) -> list[Invitation]:
    """One reminder to each invitation sent at least REMINDER_AFTER ago and still unanswered."""
    now = now or timezone.now()
    due = Invitation.objects.filter(
        status__in=OPEN_STATUSES,
        reminder_message__isnull=True,
        expires_at__gt=now + timedelta(days=1),  # a reminder the day a link dies is noise
        message__status__in=_SENT,
        message__sent_at__lte=now - REMINDER_AFTER,
    ).exclude(response__completed_at__isnull=False)
    reminded = []
    for invitation in due.select_related("patient__home_location", "appointment__location"):
        with transaction.atomic():
            locked = (
                Invitation.objects.select_for_update()
                .filter(pk=invitation.pk, reminder_message__isnull=True)
                .first()
            )
            if locked is None:
                continue  # another sweep took it
            channel, reason = choose_channel(invitation.patient)
            message = _enqueue(invitation, Purpose.SURVEY_REMINDER, channel, now, reason)
            Invitation.objects.filter(pk=invitation.pk).update(reminder_message=message)
            invitation.reminder_message = message
            reminded.append(invitation)
    log.info("survey reminders enqueued: %s", len(reminded))
    return reminded


def expire(now: datetime | None = None) -> int:
    """Close invitations whose link has run out; partial answers stay for the dashboard."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Invitation.objects.select_for_update().filter(
            status__in=OPEN_STATUSES, expires_at__lte=now
        )
        ids = list(due.values_list("pk", flat=True))
        expired = Invitation.objects.filter(pk__in=ids).update(status=InvitationStatus.EXPIRED)
        rollup_signals.invitations_changed(ids)
    return expired


def sweep(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    followed = follow_messages()
    expired = expire(now)
    reminded = len(send_reminders(now))
    return {"followed": followed, "expired": expired, "reminded": reminded}

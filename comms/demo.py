"""Demo step of comms: plan reminders for the demo clinic's upcoming visits (idempotent)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from comms.models import OutboundMessage
from comms.reminders import plan_for_appointment
from scheduling.models import ACTIVE_STATUSES, Appointment


def seed(limit: int | None = None) -> None:
    """Plan reminders for upcoming visits (the `limit` nearest ones, if given)."""
    upcoming = (
        Appointment.objects.filter(start__gt=timezone.now(), status__in=ACTIVE_STATUSES)
        .select_related("patient__home_location", "provider", "location", "appointment_type")
        .order_by("start")
    )[:limit]
    before = OutboundMessage.objects.count()
    with transaction.atomic():
        for appointment in upcoming:
            plan_for_appointment(appointment)
    print(
        f"reminders planned: {OutboundMessage.objects.count() - before} new messages "
        "(the worker delivers due ones to var/outbox-sms.jsonl and var/outbox-mail/)"
    )
    first = (
        OutboundMessage.objects.filter(status="queued", due_at__gt=timezone.now())
        .order_by("due_at")
        .first()
    )
    if first is not None and first.reason.startswith("deferred"):
        print(
            f"  nothing goes out at night: the next reminder is due {first.due_at:%H:%M} UTC "
            f"({first.reason}). A reply is answered at once: manage.py simulate_reply "
            "--phone NUMBER HELP"
        )

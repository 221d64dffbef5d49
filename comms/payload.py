"""What a channel is handed for one outbox row: text, HTML, the calendar invitation, the
List-Unsubscribe link. Built at send time from the row and its appointment."""

from __future__ import annotations

from django.conf import settings

from comms.channels.base import OutgoingMessage
from comms.models import OutboundMessage, Purpose


def outgoing(message: OutboundMessage) -> OutgoingMessage:
    unsubscribe = None
    if message.channel == "email":
        from comms.links import unsubscribe_url

        unsubscribe = unsubscribe_url(message.patient_id)
    return OutgoingMessage(
        key=message.key,
        to=message.recipient,
        body=message.body,
        subject=message.subject or None,
        html=message.html or None,
        ics=_ics(message),
        list_unsubscribe=unsubscribe,
    )


def _ics(message: OutboundMessage) -> bytes | None:
    if (
        message.channel != "email"
        or message.appointment is None
        or (message.purpose != Purpose.REMINDER)
    ):
        return None
    from comms.ics import appointment_uid, build_invitation

    appointment = message.appointment
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "localhost"
    return build_invitation(
        uid=appointment_uid(appointment.pk, domain),
        start=appointment.start,
        end=appointment.end,
        summary=f"{appointment.appointment_type.name} with {appointment.provider.display_name}",
        location=f"{appointment.location.name}, {appointment.location.address}",
        attendee_email=message.recipient,
        sequence=appointment.changes.filter(action="rescheduled").count(),
    )

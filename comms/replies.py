"""What a patient's SMS reply does: opt out/in, help, confirm, cancel, reschedule, or the inbox.

`record_inbound_sms` is idempotent on the provider's message id (webhooks are retried), works
out which patient and appointment the reply is about from the last message we sent to that
number, and acts through the scheduling services, so a reply has the same effect as the front
desk doing it.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

from comms import consent
from comms.compose import compose, enqueue_written
from comms.facts import appointment_facts
from comms.keywords import parse_reply
from comms.links import reschedule_url
from comms.models import InboundMessage, OutboundMessage, Purpose, Status
from scheduling import services
from scheduling.models import Appointment, Patient

log = logging.getLogger(__name__)

# Sent for a numeric reply to a survey invitation: kwargs patient, score, inbound. A receiver
# that records the score returns True.
nps_reply_received = Signal()

SURVEY_PURPOSES = {Purpose.SURVEY_INVITE, Purpose.SURVEY_REMINDER}


def _context(from_number: str) -> tuple[Patient | None, OutboundMessage | None]:
    last = (
        OutboundMessage.objects.filter(
            channel="sms", recipient=from_number, status__in=[Status.SENT, Status.DELIVERED]
        )
        .select_related("patient", "appointment")
        .order_by("-sent_at", "-pk")
        .first()
    )
    if last is not None:
        return last.patient, last
    return Patient.objects.filter(phone=from_number).order_by("pk").first(), None


def reply(
    inbound: InboundMessage,
    patient: Patient,
    purpose: str,
    appointment: Appointment | None = None,
    facts: dict | None = None,
) -> None:
    """Answer the patient's message through the outbox (recorded like any other message)."""
    facts = dict(facts or {})
    facts.setdefault("clinic_phone", str(patient.home_location.phone or ""))
    written = compose(
        patient, purpose, "sms", facts, appointment.appointment_type if appointment else None
    )
    enqueue_written(
        written,
        key=f"reply:{inbound.pk}:{purpose}",
        patient=patient,
        appointment=appointment,
        channel="sms",
        purpose=purpose,
    )


@transaction.atomic
def record_inbound_sms(*, provider_id: str, from_number: str, body: str) -> InboundMessage:
    """Store and act on one inbound SMS; a repeat of the same provider id changes nothing."""
    existing = InboundMessage.objects.filter(provider_id=provider_id).first()
    if existing is not None:
        return existing
    patient, last = _context(from_number)
    opted_out = bool(patient) and consent.is_opted_out(patient.pk, "sms")
    expecting = "nps" if last is not None and last.purpose in SURVEY_PURPOSES else "reminder"
    parsed = parse_reply(
        body,
        expecting=expecting,
        opted_out=opted_out,
        default_language=patient.preferred_language if patient else "en",
    )
    appointment = last.appointment if last is not None and last.appointment_id else None
    inbound = InboundMessage.objects.create(
        provider_id=provider_id,
        from_number=from_number,
        body=body[:1600],
        patient=patient,
        appointment=appointment,
        intent=parsed.intent,
    )
    outcome, handled = _act(inbound, parsed, patient, appointment, from_number)
    inbound.outcome = outcome[:200]
    inbound.state = InboundMessage.State.HANDLED if handled else InboundMessage.State.OPEN
    inbound.save(update_fields=["outcome", "state"])
    log.info("inbound %s intent=%s handled=%s", inbound.pk, parsed.intent, handled)
    return inbound


def _act(inbound, parsed, patient, appointment, from_number) -> tuple[str, bool]:
    if parsed.intent in ("opt_out", "opt_in"):
        # STOP is about the phone number: every patient sharing it is opted out (or in).
        sharing = list(Patient.objects.filter(phone=from_number)) or ([patient] if patient else [])
        for person in sharing:
            consent.set_consent(
                person, "sms", opted_out=parsed.intent == "opt_out", source="sms_keyword"
            )
        if parsed.intent == "opt_in" and patient is not None:
            reply(inbound, patient, Purpose.OPT_IN_ACK)
        # Twilio's opt-out handling sends the carrier-required STOP confirmation itself; any
        # further message of ours to this number would be refused (21610), so we send none.
        return f"{parsed.intent.replace('_', ' ')} for {len(sharing)} patient(s)", True
    if patient is None:
        return "unknown number", False
    if parsed.intent == "help":
        reply(inbound, patient, Purpose.HELP)
        return "help sent", True
    if parsed.intent == "nps":
        answers = nps_reply_received.send(
            sender=InboundMessage, patient=patient, score=parsed.score, inbound=inbound
        )
        return (
            (f"survey score {parsed.score} recorded", True)
            if any(result for _, result in answers)
            else ("score with no open survey", False)
        )
    if parsed.intent not in ("confirm", "cancel", "reschedule"):
        return "needs staff", False
    if appointment is None or not appointment.is_active:
        return f"{parsed.intent}: no upcoming appointment to act on", False
    facts = appointment_facts(
        appointment, patient.preferred_language, link=reschedule_url(appointment)
    )
    try:
        if parsed.intent == "confirm":
            services.confirm(appointment, actor="patient (sms)")
            reply(inbound, patient, Purpose.CONFIRMATION_ACK, appointment, facts)
        elif parsed.intent == "cancel":
            services.cancel(
                appointment, reason="Patient cancelled by SMS reply", actor="patient (sms)"
            )
            reply(inbound, patient, Purpose.CANCELLATION_ACK, appointment, facts)
        else:
            reply(inbound, patient, Purpose.RESCHEDULE_LINK, appointment, facts)
    except services.SchedulingError as exc:
        return f"{parsed.intent} refused: {exc.messages[0]}", False
    return f"{parsed.intent} appointment {appointment.pk}", True

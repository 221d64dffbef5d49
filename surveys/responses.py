"""Recording a patient's answers: saved as they come, completed once, then analysed.

The web page and the SMS score reply call the same functions, so a completed response gets the
same analysis and follow-up whichever way it arrived.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from scheduling.models import Patient
from surveys import feedback, rollup_signals, tickets
from surveys.invitations import OPEN_STATUSES
from surveys.models import (
    Answer,
    Invitation,
    InvitationStatus,
    Question,
    QuestionKind,
    Response,
    Ticket,
)

log = logging.getLogger(__name__)

Value = int | str | None


def response_for(invitation: Invitation, *, channel: str = "web") -> Response:
    """The invitation's response, created with copies of the visit on first use."""
    existing = Response.objects.filter(invitation=invitation).first()
    if existing is not None:
        return existing
    appointment = invitation.appointment
    return Response.objects.create(
        invitation=invitation,
        channel=channel,
        language=invitation.survey.language if invitation.survey else "en",
        location_id=appointment.location_id,
        provider_id=appointment.provider_id,
        appointment_type_id=appointment.appointment_type_id,
        visit_date=appointment.start.astimezone(appointment.location.zone).date(),
        invite_channel=invitation.channel,
    )


def save_answers(response: Response, values: dict[Question, Value]) -> None:
    """Make the stored answers match `values`; None or "" clears an answer."""
    for question, value in values.items():
        if value is None or value == "":
            Answer.objects.filter(response=response, question=question).delete()
            continue
        is_text = question.kind == QuestionKind.FREE_TEXT
        Answer.objects.update_or_create(
            response=response,
            question=question,
            defaults={
                "code": question.code,
                "value_int": None if is_text else int(value),
                "value_text": str(value) if is_text else "",
            },
        )
    # The dashboard reads NPS and the provider rating from the response row itself.
    by_kind = {q.kind: v for q, v in values.items()}
    if QuestionKind.NPS in by_kind:
        response.nps = _int_or_none(by_kind[QuestionKind.NPS])
    if QuestionKind.RATING in by_kind:
        response.provider_rating = _int_or_none(by_kind[QuestionKind.RATING])
    response.save(update_fields=["nps", "provider_rating"])


def _int_or_none(value: Value) -> int | None:
    return None if value is None or value == "" else int(value)


def mark_partial(invitation: Invitation) -> None:
    with transaction.atomic():
        Invitation.objects.filter(pk=invitation.pk, status__in=OPEN_STATUSES).update(
            status=InvitationStatus.PARTIAL
        )
        rollup_signals.invitations_changed([invitation.pk])


def complete(
    response: Response, *, now: datetime | None = None, notify: bool = True
) -> Ticket | None:
    """Close the response, analyse its free text and open a follow-up ticket if it needs one.

    Call inside a transaction; the managers' alert is sent after commit.
    """
    now = now or timezone.now()
    response.completed_at = now
    response.save(update_fields=["completed_at"])
    Invitation.objects.filter(pk=response.invitation_id).update(
        status=InvitationStatus.COMPLETED, completed_at=now
    )
    rollup_signals.invitations_changed([response.invitation_id])
    comments = feedback.analyse_response(response, now=now)
    ticket = tickets.open_ticket(response, comments, notify=notify)
    log.info(
        "response %s completed: %s comment(s), ticket %s",
        response.pk,
        len(comments),
        ticket.pk if ticket else None,
    )
    return ticket


def latest_open_invitation(patient: Patient, now: datetime | None = None) -> Invitation | None:
    now = now or timezone.now()
    return (
        Invitation.objects.select_for_update()
        .filter(patient=patient, status__in=OPEN_STATUSES, expires_at__gt=now)
        .exclude(survey__isnull=True)
        .order_by("-created_at", "-pk")
        .first()
    )


@transaction.atomic
def record_sms_nps(patient: Patient, score: int) -> Response | None:
    """Record a 0-10 SMS reply as the NPS of the patient's latest open survey, completing it."""
    if not 0 <= score <= 10:
        return None
    invitation = latest_open_invitation(patient)
    if invitation is None:
        return None
    question = invitation.survey.questions.filter(kind=QuestionKind.NPS).first()
    if question is None:
        return None
    response = response_for(invitation, channel="sms")
    save_answers(response, {question: score})
    complete(response)
    return response


def on_nps_reply(sender, patient: Patient, score: int, inbound, **kwargs) -> bool:
    """Receiver of comms.replies.nps_reply_received: True if the score was recorded."""
    recorded = record_sms_nps(patient, score)
    if recorded is not None:
        log.info("sms score recorded on response %s from inbound %s", recorded.pk, inbound.pk)
    return recorded is not None

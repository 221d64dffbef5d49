"""Invitations: after a completed visit only, once per period, one reminder, SMS scores."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import time_machine
from django.utils import timezone

from comms.models import OutboundMessage, Purpose, Status
from comms.replies import record_inbound_sms
from scheduling import services
from scheduling.links import make_token
from scheduling.models import AppointmentStatus
from surveys import invitations
from surveys.models import Invitation, InvitationStatus, Ticket
from tests import factories
from tests.surveys.conftest import past_visit

pytestmark = pytest.mark.django_db


def _link(invitation: Invitation) -> str:
    return f"http://127.0.0.1:8000/s/{make_token('survey', invitation.pk)}/"


def _survey_messages():
    return OutboundMessage.objects.filter(
        purpose__in=[Purpose.SURVEY_INVITE, Purpose.SURVEY_REMINDER]
    )


def test_completed_visit_gets_invitation_due_after_the_delay_with_exact_link(clinic, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    settings.SURVEY_DELAY_HOURS = 2
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False):
        appointment = past_visit(clinic)
        now = timezone.now()
        invitation = Invitation.objects.get(appointment=appointment)
        message = invitation.message
        link = _link(invitation)
    assert invitation.status == InvitationStatus.SCHEDULED
    assert invitation.survey.language == "en" and invitation.channel == "sms"
    assert invitation.expires_at == now + timedelta(hours=2, days=14)
    assert message.purpose == Purpose.SURVEY_INVITE and message.status == Status.QUEUED
    assert message.due_at == now + timedelta(hours=2)
    assert message.recipient == str(clinic.patient.phone)
    assert message.body == (
        "Thank you for your visit. How likely are you to recommend us? Reply with a number "
        f"0-10, or tell us more in a short survey: {link}\n"
        "Reply STOP to opt out"
    )
    assert "Quintero" not in message.body


def test_email_and_spanish_invitations(clinic, spanish_patient):
    spanish_patient.preferred_channel = "email"
    spanish_patient.save()
    invitation = Invitation.objects.get(appointment=past_visit(clinic, spanish_patient))
    message = invitation.message
    assert invitation.survey.language == "es" and message.language == "es"
    assert message.channel == "email" and message.subject == "¿Cómo fue su visita?"
    link = f"/s/{make_token('survey', invitation.pk)}/"
    assert link in message.body and f'href="http://127.0.0.1:8000{link}"' in message.html


@pytest.mark.parametrize("outcome", ["no_show", "cancelled"])
def test_no_survey_after_a_no_show_or_cancellation(clinic, outcome):
    day = clinic.next_weekday(0, weeks_ahead=-1)
    appointment = services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(day, time(9)),
        allow_past=True,
    )
    if outcome == "no_show":
        services.mark_outcome(appointment, outcome=AppointmentStatus.NO_SHOW)
    else:
        services.cancel(appointment, reason="Patient called")
    assert invitations.invite_after_visit(appointment) is None
    assert not Invitation.objects.exists() and not _survey_messages().exists()


def test_at_most_one_survey_per_patient_per_period(clinic, settings):
    settings.SURVEY_MIN_DAYS_BETWEEN = 90
    first = Invitation.objects.get(appointment=past_visit(clinic, clock=time(9)))
    second = Invitation.objects.get(appointment=past_visit(clinic, clock=time(14)))
    assert first.status == InvitationStatus.SCHEDULED
    assert second.status == InvitationStatus.SKIPPED
    assert "within 90 days" in second.skip_reason and second.message is None
    assert _survey_messages().count() == 1
    # Another patient is not affected.
    other = factories.PatientFactory(home_location=clinic.location)
    assert Invitation.objects.get(appointment=past_visit(clinic, other, time(10))).message
    # 91 days on, the first patient can be asked again.
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        later = past_visit(clinic, clock=time(11))
        assert Invitation.objects.get(appointment=later).status == InvitationStatus.SCHEDULED


def _mark_sent(message: OutboundMessage, when) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(status=Status.SENT, sent_at=when)


def test_one_reminder_to_non_responders_then_expiry(clinic):
    invitation = Invitation.objects.get(appointment=past_visit(clinic))
    now = timezone.now()
    _mark_sent(invitation.message, now - timedelta(days=2))
    assert invitations.sweep(now) == {"followed": 1, "expired": 0, "reminded": 0}
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.SENT
    later = now + timedelta(days=1, minutes=1)
    assert invitations.sweep(later)["reminded"] == 1
    invitation.refresh_from_db()
    reminder = invitation.reminder_message
    assert reminder.purpose == Purpose.SURVEY_REMINDER and reminder.due_at == later
    assert reminder.body == (
        f"Your short survey about your recent visit is still open: {_link(invitation)}\n"
        "Reply STOP to opt out"
    )
    # Never a second reminder.
    assert invitations.sweep(later + timedelta(days=3))["reminded"] == 0
    assert _survey_messages().filter(purpose=Purpose.SURVEY_REMINDER).count() == 1
    assert invitations.sweep(invitation.expires_at + timedelta(seconds=1))["expired"] == 1
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.EXPIRED


def test_no_reminder_once_answered(clinic):
    invitation = Invitation.objects.get(appointment=past_visit(clinic))
    _mark_sent(invitation.message, timezone.now() - timedelta(days=4))
    Invitation.objects.filter(pk=invitation.pk).update(status=InvitationStatus.COMPLETED)
    assert invitations.sweep()["reminded"] == 0


def test_sms_score_reply_records_nps_on_the_open_invitation(clinic, manager):
    invitation = Invitation.objects.get(appointment=past_visit(clinic))
    _mark_sent(invitation.message, timezone.now())
    inbound = record_inbound_sms(
        provider_id="SM-nps-1", from_number=str(clinic.patient.phone), body="3"
    )
    assert inbound.intent == "nps" and inbound.outcome == "survey score 3 recorded"
    invitation.refresh_from_db()
    response = invitation.response
    assert response.nps == 3 and response.channel == "sms" and response.completed_at
    assert invitation.status == InvitationStatus.COMPLETED
    assert response.answers.get(code="nps").value_int == 3
    assert response.visit_date == invitation.appointment.local_start.date()
    ticket = Ticket.objects.get(response=response)
    assert ticket.reasons == ["detractor"] and ticket.owner == manager.user
    # A repeat of the webhook changes nothing; a later number has no open survey.
    record_inbound_sms(provider_id="SM-nps-1", from_number=str(clinic.patient.phone), body="3")
    again = record_inbound_sms(
        provider_id="SM-nps-2", from_number=str(clinic.patient.phone), body="10"
    )
    assert again.outcome == "score with no open survey"
    response.refresh_from_db()
    assert response.nps == 3 and Ticket.objects.count() == 1

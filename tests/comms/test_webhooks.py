"""Twilio webhooks through Django's test client, signed exactly as Twilio signs them."""

from __future__ import annotations

from datetime import time

import pytest
from django.core.management import call_command
from django.utils import timezone
from twilio.request_validator import RequestValidator

from comms.models import ChannelConsent, InboundMessage, OutboundMessage, Purpose, Status
from scheduling import services
from scheduling.models import AppointmentStatus

pytestmark = pytest.mark.django_db

TOKEN = "webhook-test-token"
BASE = "https://clinic.example.org"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE


def post_signed(client, path: str, params: dict, token: str = TOKEN):
    signature = RequestValidator(token).compute_signature(f"{BASE}{path}", params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture
def reminded(clinic):
    """A booked visit whose first reminder went out by SMS."""
    appointment = services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(clinic.next_weekday(1, 2), time(10)),
    )
    message = OutboundMessage.objects.filter(appointment=appointment).order_by("due_at").first()
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.SENT, provider_id="SM" + "1" * 32, sent_at=timezone.now()
    )
    message.refresh_from_db()
    return appointment, message


def status(client, message, value, code=""):
    params = {"MessageSid": message.provider_id, "MessageStatus": value}
    if code:
        params["ErrorCode"] = code
    return post_signed(client, f"/hooks/twilio/status/?outbox_key={message.key}", params)


def test_status_callbacks_are_idempotent_and_never_go_backwards(client, reminded):
    _, message = reminded
    assert status(client, message, "delivered").status_code == 204
    assert status(client, message, "sent").status_code == 204  # late, out of order
    assert status(client, message, "delivered").status_code == 204  # duplicate
    message.refresh_from_db()
    assert message.status == Status.DELIVERED and message.delivered_at is not None
    kinds = list(message.events.filter(kind__startswith="callback").values_list("kind", flat=True))
    assert kinds == ["callback:delivered"]


def test_undelivered_with_21610_opts_the_patient_out(client, reminded, clinic):
    _, message = reminded
    status(client, message, "undelivered", "21610")
    message.refresh_from_db()
    assert message.status == Status.UNDELIVERED and message.error_code == "21610"
    assert ChannelConsent.objects.get(patient=clinic.patient, channel="sms").opted_out


def test_forged_or_missing_signature_is_refused_and_changes_nothing(client, reminded):
    appointment, message = reminded
    path = f"/hooks/twilio/status/?outbox_key={message.key}"
    forged = post_signed(
        client,
        path,
        {"MessageSid": message.provider_id, "MessageStatus": "failed"},
        token="not-the-token",
    )
    assert forged.status_code == 403
    assert client.post(path, {"MessageSid": "x", "MessageStatus": "failed"}).status_code == 403
    inbound = post_signed(
        client,
        "/hooks/twilio/inbound/",
        {"MessageSid": "SMfake", "From": "+13125550100", "Body": "2"},
        token="wrong",
    )
    assert inbound.status_code == 403
    message.refresh_from_db()
    appointment.refresh_from_db()
    assert message.status == Status.SENT and appointment.status == AppointmentStatus.BOOKED
    assert InboundMessage.objects.count() == 0


def reply(client, clinic, body, sid="SM" + "9" * 32):
    return post_signed(
        client,
        "/hooks/twilio/inbound/",
        {"MessageSid": sid, "From": str(clinic.patient.phone), "Body": body},
    )


def test_c_confirms_and_a_retried_webhook_changes_nothing_more(client, clinic, reminded):
    appointment, _ = reminded
    response = reply(client, clinic, " c ")
    assert response.status_code == 200 and b"<Response>" in response.content
    reply(client, clinic, " c ")  # Twilio retries the same MessageSid
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert InboundMessage.objects.get().state == InboundMessage.State.HANDLED
    ack = OutboundMessage.objects.get(purpose=Purpose.CONFIRMATION_ACK)
    assert ack.recipient == str(clinic.patient.phone) and ack.status == Status.QUEUED


def test_2_cancels_and_r_sends_a_working_reschedule_link(client, clinic, reminded):
    appointment, _ = reminded
    reply(client, clinic, "R", sid="SM" + "2" * 32)
    link_message = OutboundMessage.objects.get(purpose=Purpose.RESCHEDULE_LINK)
    link = next(w for w in link_message.body.split() if w.startswith(BASE))
    page = client.get(link.removeprefix(BASE))
    assert page.status_code == 200 and "Choose a new time" in page.content.decode()
    reply(client, clinic, "2", sid="SM" + "3" * 32)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancel_reason == "Patient cancelled by SMS reply"
    assert client.get(link.removeprefix(BASE)).status_code == 410  # spent: visit cancelled


def test_stop_opts_out_every_patient_on_the_number_and_start_opts_back_in(client, clinic, reminded):
    from tests.factories import PatientFactory

    sibling = PatientFactory(home_location=clinic.location, phone=clinic.patient.phone)
    reply(client, clinic, "STOP", sid="SM" + "4" * 32)
    assert set(
        ChannelConsent.objects.filter(opted_out=True).values_list("patient_id", flat=True)
    ) == {clinic.patient.pk, sibling.pk}
    queued = OutboundMessage.objects.filter(patient=clinic.patient, status=Status.QUEUED)
    assert not queued.exists()  # pending reminders withdrawn at once
    assert not OutboundMessage.objects.filter(purpose=Purpose.OPT_OUT_ACK).exists()
    reply(client, clinic, "START", sid="SM" + "5" * 32)
    assert not ChannelConsent.objects.filter(patient=clinic.patient, opted_out=True).exists()
    assert OutboundMessage.objects.filter(purpose=Purpose.OPT_IN_ACK).exists()


@pytest.mark.parametrize(("body", "purpose"), [("HELP", Purpose.HELP), ("AYUDA", Purpose.HELP)])
def test_help_is_answered(client, clinic, reminded, body, purpose):
    reply(client, clinic, body)
    assert OutboundMessage.objects.filter(purpose=purpose).exists()


def test_anything_else_lands_in_the_staff_inbox(client, clinic, reminded):
    appointment, _ = reminded
    reply(client, clinic, "Can I bring my daughter along?")
    inbound = InboundMessage.objects.get()
    assert inbound.state == InboundMessage.State.OPEN
    assert (inbound.patient, inbound.appointment) == (clinic.patient, appointment)


def test_reschedule_page_moves_the_visit_once(client, clinic, reminded):
    from scheduling.links import reschedule_url

    appointment, _ = reminded
    path = reschedule_url(appointment).removeprefix(BASE)
    page = client.get(path)
    body = page.content.decode()
    choice = body.split('name="slot" value="', 1)[1].split('"', 1)[0]
    moved = client.post(path, {"slot": choice})
    assert moved.status_code == 200 and "has moved" in moved.content.decode()
    appointment.refresh_from_db()
    assert appointment.start.isoformat() == choice.split("|", 1)[1]
    assert client.get(path).status_code == 410  # single use
    assert client.get("/r/forged-token/").status_code == 400


def test_simulate_reply_command_goes_through_the_same_path(clinic, reminded, capsys):
    appointment, _ = reminded
    call_command("simulate_reply", "--appointment", str(appointment.pk), "C")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    assert "intent=confirm" in capsys.readouterr().out

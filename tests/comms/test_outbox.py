"""Delivering outbox rows through the real twilio client and Django mail to loopback servers."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import time_machine
from django.utils import timezone

from comms import consent, outbox
from comms.models import ChannelConsent, OutboundMessage, Purpose, Status
from tests.fakes.twilio_server import Script

pytestmark = pytest.mark.django_db


def queue(
    clinic,
    *,
    key="k1",
    body="Your visit is tomorrow. Reply STOP to opt out",
    channel="sms",
    purpose=Purpose.REMINDER,
    due=None,
    urgent=False,
):
    message, _ = outbox.enqueue(
        key=key,
        patient=clinic.patient,
        channel=channel,
        purpose=purpose,
        body=body,
        subject="Visit",
        urgent=urgent,
        due_at=due or timezone.now() - timedelta(seconds=1),
    )
    return message


def send(message_id):
    claimed = outbox.claim(message_id)
    assert claimed is not None
    return outbox.deliver(claimed)


@pytest.fixture
def daytime(clinic):
    """10:00 on a weekday in the clinic's zone: inside the allowed hours."""
    with time_machine.travel(clinic.at(clinic.next_weekday(1), time(10)), tick=True):
        yield


def test_sms_reaches_the_provider_exactly_once(clinic, twilio, daytime):
    message = queue(clinic)
    assert send(message.pk) == Status.SENT
    assert outbox.claim(message.pk) is None  # already done: a second worker gets nothing
    [sent] = twilio.messages
    assert (sent["to"], sent["body"], sent["from"]) == (
        str(clinic.patient.phone),
        "Your visit is tomorrow. Reply STOP to opt out",
        "+13125550100",
    )
    assert "outbox_key=k1" in sent["status_callback"]
    message.refresh_from_db()
    assert message.provider_id == sent["sid"] and message.segments == 1
    assert list(message.events.values_list("kind", flat=True)) == ["queued", "sent"]


def test_rate_limit_and_server_errors_retry_with_backoff(clinic, twilio, daytime):
    twilio.script(Script.error(429, 20429, "Too Many Requests"), Script.error(500))
    message = queue(clinic)
    assert send(message.pk) == Status.QUEUED
    message.refresh_from_db()
    assert message.error_code == "20429" and message.due_at > timezone.now()
    OutboundMessage.objects.filter(pk=message.pk).update(due_at=timezone.now())
    assert send(message.pk) == Status.QUEUED
    OutboundMessage.objects.filter(pk=message.pk).update(due_at=timezone.now())
    assert send(message.pk) == Status.SENT
    assert len(twilio.messages) == 1
    message.refresh_from_db()
    assert message.attempts == 3


@pytest.mark.parametrize("code", [21211, 21614])
def test_permanent_errors_fail_without_retry(clinic, twilio, daytime, code):
    twilio.script(Script.error(400, code, "refused"))
    message = queue(clinic)
    assert send(message.pk) == Status.FAILED
    message.refresh_from_db()
    assert message.error_code == str(code) and "refused" in message.reason
    assert twilio.messages == []


def test_21610_marks_the_patient_opted_out(clinic, twilio, daytime):
    twilio.script(Script.error(400, 21610, "Attempt to send to unsubscribed recipient"))
    first = queue(clinic, key="a")
    second = queue(clinic, key="b", due=timezone.now() + timedelta(hours=3))
    assert send(first.pk) == Status.FAILED
    assert ChannelConsent.objects.get(patient=clinic.patient, channel="sms").opted_out
    second.refresh_from_db()
    assert second.status == Status.CANCELLED and "opted out" in second.reason


def test_timeout_then_provider_check_prevents_a_duplicate(clinic, twilio, daytime, settings):
    twilio.script(Script.slow(3.0, create=True))  # Twilio takes it but answers after our timeout
    message = queue(clinic)
    assert send(message.pk) == Status.QUEUED
    message.refresh_from_db()
    assert message.outcome_unknown
    OutboundMessage.objects.filter(pk=message.pk).update(due_at=timezone.now())
    assert send(message.pk) == Status.SENT
    assert len(twilio.messages) == 1  # asked first, found it, did not send again
    message.refresh_from_db()
    assert message.provider_id == twilio.messages[0]["sid"]
    assert "not sent again" in message.reason


def test_a_dead_workers_row_is_released_and_checked_not_resent(clinic, twilio, daytime):
    message = queue(clinic)
    claimed = outbox.claim(message.pk)
    # The worker sends, then dies before recording the outcome.
    from comms.delivery import channel_for

    channel_for("sms").send(outbox.outgoing(claimed))
    OutboundMessage.objects.filter(pk=message.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert outbox.release_expired_leases() == 1
    assert send(message.pk) == Status.SENT
    assert len(twilio.messages) == 1
    # The dead worker's late write (old attempt number) changes nothing.
    assert outbox._finish(claimed, status=Status.FAILED) is False


def test_quiet_hours_defer_at_send_time(clinic, twilio):
    late = clinic.at(clinic.next_weekday(1), time(22, 15))
    with time_machine.travel(late, tick=False):
        message = queue(clinic)
        assert send(message.pk) == Status.QUEUED
    message.refresh_from_db()
    assert message.due_at == clinic.at(clinic.next_weekday(1) + timedelta(days=1), time(8))
    assert message.reason.startswith("deferred: quiet hours 21:00-08:00 America/Chicago")
    assert message.attempts == 0 and twilio.messages == []


def test_daily_cap_defers_non_urgent_sms_but_not_urgent_or_replies(clinic, twilio, daytime):
    assert send(queue(clinic, key="one").pk) == Status.SENT
    second = queue(clinic, key="two")
    assert send(second.pk) == Status.QUEUED
    second.refresh_from_db()
    assert "cap" in second.reason and second.due_at > timezone.now()
    assert send(queue(clinic, key="urgent", urgent=True).pk) == Status.SENT
    assert send(queue(clinic, key="ack", purpose=Purpose.CONFIRMATION_ACK).pk) == Status.SENT
    assert len(twilio.messages) == 3


def test_stop_blocks_every_path(clinic, twilio, daytime):
    queued = queue(clinic, key="queued")
    consent.set_consent(clinic.patient, "sms", opted_out=True, source="sms_keyword")
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED
    late = queue(clinic, key="after")  # written after STOP: skipped at once
    assert late.status == Status.SKIPPED and "opted out" in late.reason
    # Even a row forced back to queued is stopped at send time.
    OutboundMessage.objects.filter(pk=queued.pk).update(status=Status.QUEUED)
    assert send(queued.pk) == Status.SKIPPED
    assert twilio.messages == []


def test_reminder_for_a_cancelled_visit_is_not_sent(clinic, twilio, daytime):
    from scheduling import services

    appointment = services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(clinic.next_weekday(1, 2), time(10)),
    )
    message = OutboundMessage.objects.filter(appointment=appointment).first()
    assert outbox.claim(message.pk) is None  # not due yet
    OutboundMessage.objects.filter(pk=message.pk).update(due_at=timezone.now())
    claimed = outbox.claim(message.pk)
    services.cancel(appointment, reason="Called in")  # between the claim and the send
    assert outbox.deliver(claimed) == Status.CANCELLED
    assert twilio.messages == []


def test_email_reminder_has_text_html_ics_and_unsubscribe(clinic, smtp, daytime):
    from scheduling import services

    clinic.patient.preferred_channel = "email"
    clinic.patient.save()
    appointment = services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(clinic.next_weekday(1, 2), time(10)),
    )
    message = OutboundMessage.objects.filter(appointment=appointment).order_by("due_at").first()
    OutboundMessage.objects.filter(pk=message.pk).update(due_at=timezone.now())
    assert send(message.pk) == Status.SENT
    [mail] = smtp.messages
    assert mail["To"] == clinic.patient.email
    assert "/u/" in mail["List-Unsubscribe"]
    kinds = {part.get_content_type() for part in mail.walk()}
    assert {"text/plain", "text/html", "text/calendar"} <= kinds
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_content()
    assert "Dr Elena Ortiz" in text and "10:00 AM" in text

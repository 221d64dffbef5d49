"""A reminder's whole life through the real parts: booking, Celery on Redis, the twilio client,
signed Twilio webhooks into a live server, the patient's replies, and STOP on every path.

A Celery worker runs in this process (one thread, so it shares the test database); FakeTwilio
posts its signed status callbacks to Django's live server, exactly where Twilio would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from twilio.request_validator import RequestValidator

from comms import delivery
from comms.models import InboundMessage, OutboundMessage, Purpose, Status
from comms.tasks import dispatch_due
from config.celery_app import app
from scheduling import services
from scheduling.models import AppointmentStatus
from tests.fakes.twilio_server import FakeTwilio
from tests.polling import wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

FROM_NUMBER = "+13125550100"


@pytest.fixture
def stack(settings, live_server) -> Iterator[FakeTwilio]:
    """FakeTwilio with signed callbacks (each twice, newest first) + live server + a worker."""
    settings.PUBLIC_BASE_URL = live_server.url  # what signatures are computed and checked over
    # No quiet hours, so the test does not depend on the time of day it runs at.
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = (0, 0)
    with FakeTwilio(callbacks=True, callback_duplicates=True, callback_reverse=True) as fake:
        fake.configure(settings, from_number=FROM_NUMBER, timeout_s=5)
        # One thread: the twilio client keeps its last response on the shared client object.
        with start_worker(
            app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10
        ):
            yield fake
    delivery.reset()


def signed_post(url: str, params: dict[str, str], token: str) -> requests.Response:
    signature = RequestValidator(token).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


def patient_texts(live_server, stack: FakeTwilio, phone: str, body: str, sid: str):
    url = f"{live_server.url}/hooks/twilio/inbound/"
    params = {
        "AccountSid": stack.account_sid,
        "MessageSid": sid,
        "From": phone,
        "To": FROM_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    return signed_post(url, params, stack.auth_token)


def book(clinic, weeks_ahead: int, hour: int = 10):
    from datetime import time as clock

    return services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(clinic.next_weekday(1, weeks_ahead=weeks_ahead), clock(hour)),
    )


def status_of(pk: int) -> str:
    return OutboundMessage.objects.values_list("status", flat=True).get(pk=pk)


def test_reminder_delivery_confirm_reply_and_stop_on_every_path(
    clinic, stack, live_server, admin_client
):
    phone = str(clinic.patient.phone)
    appointment = book(clinic, weeks_ahead=2)
    first = (
        OutboundMessage.objects.filter(appointment=appointment, purpose=Purpose.REMINDER)
        .order_by("due_at")
        .first()
    )
    assert first.status == Status.QUEUED and first.due_at > timezone.now() + timedelta(days=1)

    # Time moves on: the first reminder falls due, and the beat's sweep sends it.
    OutboundMessage.objects.filter(pk=first.pk).update(due_at=timezone.now())
    dispatch_due.delay()
    [sent] = wait_until(lambda: stack.messages, "the reminder at Twilio")
    local = appointment.start.astimezone(clinic.location.zone)
    assert sent["to"] == phone and sent["from"] == FROM_NUMBER
    assert sent["body"] == (
        f"Reminder: your appointment with Dr Elena Ortiz is on {local:%A}, {local:%B} "
        f"{local.day} at 10:00 AM, Riverside. Reply C to confirm, R to reschedule, 2 to cancel.\n"
        "Reply STOP to opt out"
    )

    # Callbacks arrive twice each and newest first ('delivered' before 'sent'): the row ends
    # delivered and a late 'sent' does not move it back.
    wait_until(lambda: len(stack.callback_results) == 4, "four status callbacks")
    assert [r["status"] for r in stack.callback_results] == [204] * 4
    assert [r["params"]["MessageStatus"] for r in stack.callback_results] == [
        "delivered", "delivered", "sent", "sent",
    ]  # fmt: skip
    first.refresh_from_db()
    assert (first.status, first.provider_id) == (Status.DELIVERED, sent["sid"])
    assert first.delivered_at is not None and first.attempts == 1
    kinds = list(first.events.values_list("kind", flat=True))
    assert kinds.count("sent") == 1 and kinds.count("callback:delivered") == 1

    # The patient replies C: the visit is confirmed and the acknowledgement goes out at once.
    response = patient_texts(live_server, stack, phone, "C", "SM" + "c" * 32)
    assert response.status_code == 200 and "<Response>" in response.text
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CONFIRMED
    wait_until(lambda: len(stack.messages) == 2, "the confirmation at Twilio")
    ack = stack.messages[1]
    assert ack["to"] == phone
    assert ack["body"] == (
        f"Thank you. Your appointment on {local:%A}, {local:%B} {local.day} at 10:00 AM is "
        "confirmed.\nReply STOP to opt out"
    )
    ack_row = OutboundMessage.objects.get(purpose=Purpose.CONFIRMATION_ACK)
    wait_until(lambda: status_of(ack_row.pk) == Status.DELIVERED, "the ack delivered")

    # STOP: nothing more by SMS, whichever path a message takes.
    response = patient_texts(live_server, stack, phone, "STOP", "SM" + "d" * 32)
    assert response.status_code == 200
    assert not OutboundMessage.objects.filter(
        channel="sms", status=Status.QUEUED, purpose=Purpose.REMINDER
    ).exists()
    # A new visit: with no e-mail to fall back on, its reminders are written as skipped.
    clinic.patient.email = ""
    clinic.patient.save(update_fields=["email"])
    second = book(clinic, weeks_ahead=3)
    planned = list(OutboundMessage.objects.filter(appointment=second))
    assert planned and {m.status for m in planned} == {Status.SKIPPED}
    assert all("opted out of sms" in m.reason for m in planned)
    # Staff press "Send again" on a cancelled reminder: queued and published again, then
    # refused at send time by the worker.
    cancelled = OutboundMessage.objects.filter(
        appointment=appointment, status=Status.CANCELLED
    ).first()
    response = admin_client.post(
        "/admin/comms/outboundmessage/",
        {"action": "resend", "_selected_action": [cancelled.pk]},
    )
    assert response.status_code == 302
    wait_until(lambda: status_of(cancelled.pk) == Status.SKIPPED, "the resend refused")
    # A row that slipped into the queue anyway (written around enqueue) meets the same gate.
    stray = OutboundMessage.objects.create(
        key="stray-after-stop",
        patient=clinic.patient,
        channel="sms",
        purpose=Purpose.REMINDER,
        recipient=phone,
        body="Reminder: stray. Reply STOP to opt out",
        due_at=timezone.now(),
    )
    dispatch_due.delay()
    wait_until(lambda: status_of(stray.pk) == Status.SKIPPED, "the stray row refused")
    cancelled.refresh_from_db()
    assert cancelled.reason == "patient opted out of sms"
    assert len(stack.messages) == 2  # the reminder and the confirmation, nothing since STOP


def test_forged_webhooks_get_403_and_change_nothing(clinic, stack, live_server):
    phone = str(clinic.patient.phone)
    appointment = book(clinic, weeks_ahead=2)
    before = set(OutboundMessage.objects.values_list("pk", "status"))
    url = f"{live_server.url}/hooks/twilio/inbound/"
    params = {"AccountSid": stack.account_sid, "MessageSid": "SM" + "e" * 32,
              "From": phone, "To": FROM_NUMBER, "Body": "C"}  # fmt: skip
    forged = signed_post(url, params, "not-the-auth-token")
    assert forged.status_code == 403
    unsigned = requests.post(url, data=params, timeout=10)
    assert unsigned.status_code == 403
    # Signed for other parameters than those sent (the body was swapped in flight).
    signature = RequestValidator(stack.auth_token).compute_signature(url, params)
    swapped = requests.post(
        url, data={**params, "Body": "2"}, headers={"X-Twilio-Signature": signature}, timeout=10
    )
    assert swapped.status_code == 403
    status_url = f"{live_server.url}/hooks/twilio/status/?outbox_key=anything"
    forged_status = signed_post(
        status_url, {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}, "wrong"
    )
    assert forged_status.status_code == 403
    assert not InboundMessage.objects.exists()
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    assert set(OutboundMessage.objects.values_list("pk", "status")) == before
    assert stack.messages == []

"""The sweep's chunk path: one claim, one read of the send-time facts and one write of the
outcomes per chunk, against real PostgreSQL and the real twilio client on a loopback fake."""

from __future__ import annotations

import threading
from datetime import time, timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.utils import timezone

from comms import chunk, outbox
from comms.channels.sms import _TwilioHttp
from comms.chunk import ChunkFacts, SentLog
from comms.models import ChannelConsent, OutboundMessage, Purpose, Status
from comms.tasks import dispatch_due
from tests import factories

BODY = "Your visit is tomorrow. Reply STOP to opt out"


def queue(patient, key, *, urgent=False, purpose=Purpose.REMINDER, due=None):
    message, _ = outbox.enqueue(
        key=key,
        patient=patient,
        channel="sms",
        purpose=purpose,
        body=BODY,
        urgent=urgent,
        due_at=due or timezone.now() - timedelta(seconds=1),
    )
    return message


def send_chunk(limit=50):
    """What one sweep thread does for one chunk, in this test's transaction."""
    ids = outbox.claim_due(limit)
    rows = OutboundMessage.objects.select_related(
        "patient__home_location__messaging", "appointment"
    ).in_bulk(ids)
    facts = ChunkFacts.load(rows.values(), timezone.now())
    log = SentLog()
    outcomes = {rows[pk].key: outbox.deliver(rows[pk], facts=facts, sent_log=log) for pk in ids}
    return outcomes, log.flush()


@pytest.fixture
def daytime(clinic):
    with time_machine.travel(clinic.at(clinic.next_weekday(1), time(10)), tick=True):
        yield


@pytest.mark.django_db
def test_chunk_honours_opt_out_and_counts_its_own_sends_against_the_cap(clinic, twilio, daytime):
    other = factories.PatientFactory(home_location=clinic.location)
    stopped = factories.PatientFactory(home_location=clinic.location)
    first = queue(clinic.patient, "first", due=timezone.now() - timedelta(minutes=3))
    second = queue(clinic.patient, "second", due=timezone.now() - timedelta(minutes=2))
    urgent = queue(clinic.patient, "urgent", urgent=True)
    ack = queue(clinic.patient, "ack", purpose=Purpose.CONFIRMATION_ACK)
    queue(other, "other")
    blocked = queue(stopped, "stopped")
    # Opted out after the row was written (a forced row: set_consent would cancel it).
    ChannelConsent.objects.create(patient=stopped, channel="sms", opted_out=True, source="test")

    outcomes, written = send_chunk()

    # The cap is one non-urgent SMS a day: "second" waits although "first" is not yet
    # written back when "second" is gated, because the chunk counts its own sends.
    assert outcomes == {
        "first": Status.SENT,
        "second": Status.QUEUED,
        "urgent": Status.SENT,
        "ack": Status.SENT,
        "other": Status.SENT,
        "stopped": Status.SKIPPED,
    }
    assert sorted(written) == sorted(
        OutboundMessage.objects.filter(status=Status.SENT).values_list("pk", flat=True)
    )
    assert {m["to"] for m in twilio.messages} == {str(clinic.patient.phone), str(other.phone)}
    assert len(twilio.messages) == 4
    second.refresh_from_db()
    assert "cap" in second.reason and second.due_at > timezone.now() and second.attempts == 0
    blocked.refresh_from_db()
    assert blocked.status == Status.SKIPPED and "opted out" in blocked.reason
    for message in (first, urgent, ack):
        message.refresh_from_db()
        assert message.provider_id in {m["sid"] for m in twilio.messages}
        assert message.sent_at is not None and message.lease_until is None
        assert message.segments == 1
        assert list(message.events.values_list("kind", flat=True)) == ["queued", "sent"]
        assert message.events.last().detail == message.provider_id


@pytest.mark.django_db
def test_a_newer_attempt_is_not_overwritten_by_a_late_flush(clinic, twilio, daytime):
    message = queue(clinic.patient, "late")
    [pk] = outbox.claim_due(10)
    row = OutboundMessage.objects.select_related("patient__home_location").get(pk=pk)
    log = SentLog()
    assert outbox.deliver(row, facts=ChunkFacts.load([row], timezone.now()), sent_log=log) == (
        Status.SENT
    )
    # Before the flush, the lease ran out and another worker took the row over.
    OutboundMessage.objects.filter(pk=pk).update(attempts=row.attempts + 1)
    assert log.flush() == []
    message.refresh_from_db()
    assert message.status == Status.SENDING and message.provider_id == ""
    assert list(message.events.values_list("kind", flat=True)) == ["queued"]
    assert log.flush() == []  # flushing twice writes nothing twice


@pytest.mark.django_db
def test_portable_claim_and_flush_match_the_postgres_statements(clinic, twilio, daytime):
    """SQLite (the demo's database) takes the ORM paths: same rows, same guards."""
    older = queue(clinic.patient, "older", due=timezone.now() - timedelta(minutes=5))
    newer = queue(clinic.patient, "newer", due=timezone.now() - timedelta(minutes=1))
    queue(clinic.patient, "future", due=timezone.now() + timedelta(hours=1))
    lease = outbox.lease_length()
    assert chunk._claim_portable(1, lease, timezone.now()) == [older.pk]
    assert chunk.claim_chunk(5, lease) == [newer.pk]
    rows = OutboundMessage.objects.in_bulk([older.pk, newer.pk])
    log = SentLog()
    now = timezone.now()
    for pk, sid in ((older.pk, "SMolder"), (newer.pk, "SMnewer")):
        log.add(rows[pk], provider_id=sid, provider_status="queued", sent_at=now, segments=None)
    OutboundMessage.objects.filter(pk=newer.pk).update(attempts=9)  # taken over meanwhile
    assert chunk._flush_portable(log.rows) == [older.pk]
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.status, older.provider_id, older.segments) == (Status.SENT, "SMolder", 1)
    assert newer.status == Status.SENDING
    assert older.events.filter(kind="sent", detail="SMolder").count() == 1
    assert not newer.events.filter(kind="sent").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_claims_skip_rows_another_worker_is_claiming(clinic):
    rows = [
        queue(clinic.patient, f"r{i}", due=timezone.now() - timedelta(minutes=10 - i))
        for i in range(3)
    ]
    locked, release = threading.Event(), threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                list(OutboundMessage.objects.select_for_update().filter(pk=rows[0].pk))
                locked.set()
                release.wait(10)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=other_worker)
    holder.start()
    try:
        assert locked.wait(10)
        assert outbox.claim_due(10) == [rows[1].pk, rows[2].pk]
    finally:
        release.set()
        holder.join(10)
    assert outbox.claim_due(10) == [rows[0].pk]
    assert connection.vendor == "postgresql"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_threaded_sweep_sends_each_row_once(clinic, twilio, settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = (0, 0)
    patients = [factories.PatientFactory(home_location=clinic.location) for _ in range(23)]
    for i, patient in enumerate(patients):
        queue(patient, f"sweep{i}")
    assert dispatch_due(limit=100) == 23
    sent = OutboundMessage.objects.filter(status=Status.SENT)
    assert sent.count() == 23
    assert sorted(m["to"] for m in twilio.messages) == sorted(str(p.phone) for p in patients)
    assert set(sent.values_list("provider_id", flat=True)) == {m["sid"] for m in twilio.messages}
    for message in sent:
        assert list(message.events.values_list("kind", flat=True)) == ["queued", "sent"]


def test_twilio_client_reads_proxy_settings_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = _TwilioHttp(timeout=5)
    assert client.proxy.get("https") == "http://proxy.internal:3128"
    assert client.session.trust_env is False  # not re-read from os.environ per request
    local = _TwilioHttp(timeout=5, base_url="http://127.0.0.1:9")
    assert local.proxy == {}  # NO_PROXY still honoured

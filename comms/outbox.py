"""The outbox: write a message row with the decision, then claim, gate, send and record it.

- `enqueue` writes the row (idempotent on `key`) inside the caller's transaction and publishes a
  fast-path dispatch after commit. The periodic sweep finds whatever the fast path missed.
- `claim` / `claim_due` move rows from queued to sending with a guarded UPDATE and a lease longer
  than the task time limit (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL for batches), so two
  workers never hold the same row.
- `deliver` re-checks the patient's protections at send time (consent, quiet hours, caps, the
  appointment still on), asks the provider before re-sending an attempt whose outcome is
  unknown, sends, and records the outcome. Every write after the send is guarded by the attempt
  number, so a worker whose lease ran out cannot overwrite a newer attempt.
- `release_expired_leases` is the relay for rows whose worker died mid-send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from comms import consent
from comms.channels.base import Channel, ChannelDisabled, DeliveryError
from comms.chunk import CAP_LOOKBACK, ChunkFacts, SentLog, claim_chunk
from comms.delivery import channel_for
from comms.models import (
    TRANSACTIONAL_PURPOSES,
    MessageEvent,
    OutboundMessage,
    Purpose,
    Status,
)
from comms.payload import outgoing
from comms.quiet_hours import next_allowed_time, next_time_within_caps
from comms.segments import count_segments
from scheduling.models import ACTIVE_STATUSES, Patient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# Backoff between attempts, seconds; short on purpose: schedules live in rows, not broker ETAs.
BACKOFF_S = [5, 20, 60, 180, 600, 1800]
SKIP_LOCKED_BATCH = 200


def lease_length() -> timedelta:
    """Longer than the task time limit, so a live worker's lease never expires under it."""
    return timedelta(seconds=settings.TASK_TIME_LIMIT_S + 60)


def event(message_id: int, kind: str, detail: str = "") -> None:
    MessageEvent.objects.create(message_id=message_id, kind=kind, detail=detail[:300])


def recipient_for(patient: Patient, channel: str) -> str:
    return str(patient.phone or "") if channel == "sms" else (patient.email or "")


def enqueue(
    *,
    key: str,
    patient: Patient,
    channel: str,
    purpose: str,
    body: str,
    subject: str = "",
    html: str = "",
    appointment=None,
    due_at: datetime | None = None,
    urgent: bool = False,
    language: str = "en",
    source: str = "",
    reason: str = "",
) -> tuple[OutboundMessage, bool]:
    """Write the message row unless one with `key` exists; returns (row, created).

    Call inside the transaction that decided to send. A row that cannot be sent at all (no
    address, opted out) is still written, as skipped with the reason, so staff can see why.
    """
    due_at = due_at or timezone.now()
    recipient = recipient_for(patient, channel)
    status, why = Status.QUEUED, reason
    if not recipient:
        status, why = Status.SKIPPED, f"no {'mobile number' if channel == 'sms' else 'e-mail'}"
    elif consent.is_opted_out(patient.pk, channel):
        status, why = Status.SKIPPED, f"patient opted out of {channel}"
    info = count_segments(body) if channel == "sms" else None
    message, created = OutboundMessage.objects.get_or_create(
        key=key,
        defaults=dict(
            patient=patient,
            appointment=appointment,
            channel=channel,
            purpose=purpose,
            language=language,
            recipient=recipient,
            subject=subject,
            body=body,
            html=html,
            status=status,
            reason=why,
            due_at=due_at,
            urgent=urgent,
            source=source,
            segments=info.segments if info else None,
            encoding=info.encoding if info else "",
        ),
    )
    if created:
        event(message.pk, status, why)
        if status == Status.QUEUED and due_at <= timezone.now() + timedelta(seconds=5):
            publish_after_commit(message.pk)
    return message, created


def publish_after_commit(message_id: int) -> None:
    from comms.tasks import dispatch_message

    transaction.on_commit(lambda: dispatch_message.delay(message_id))


def claim(message_id: int) -> OutboundMessage | None:
    """Take one due row for this worker, or None if it is not queued and due (or taken)."""
    now = timezone.now()
    taken = OutboundMessage.objects.filter(
        pk=message_id, status=Status.QUEUED, due_at__lte=now
    ).update(
        status=Status.SENDING,
        lease_until=now + lease_length(),
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not taken:
        return None
    return OutboundMessage.objects.select_related("patient__home_location", "appointment").get(
        pk=message_id
    )


def claim_due(limit: int = SKIP_LOCKED_BATCH) -> list[int]:
    """Claim up to `limit` due rows at once; rows another worker is claiming are skipped."""
    return claim_chunk(limit, lease_length())


def release_claims(ids: list[int]) -> int:
    """Give back rows claimed but never attempted (the sweep ran out of time); returns count.

    Only rows still `sending` under a live lease are touched: a live lease means no one else
    can have claimed them, and no send was started, so the attempt is handed back too.
    """
    if not ids:
        return 0
    now = timezone.now()
    return OutboundMessage.objects.filter(
        pk__in=ids, status=Status.SENDING, lease_until__gt=now
    ).update(status=Status.QUEUED, lease_until=None, attempts=F("attempts") - 1, updated_at=now)


def release_expired_leases() -> int:
    """Requeue rows whose worker died mid-send; their outcome is unknown until checked."""
    now = timezone.now()
    stuck = list(
        OutboundMessage.objects.filter(status=Status.SENDING, lease_until__lt=now).values_list(
            "pk", "attempts"
        )
    )
    released = 0
    for pk, attempts in stuck:
        released += OutboundMessage.objects.filter(
            pk=pk, status=Status.SENDING, attempts=attempts, lease_until__lt=now
        ).update(
            status=Status.QUEUED,
            outcome_unknown=True,
            due_at=now,
            lease_until=None,
            reason="worker lost mid-send; checking with the provider before any re-send",
            updated_at=now,
        )
        event(pk, "lease_expired", "requeued; outcome unknown")
    return released


@dataclass(frozen=True)
class Gate:
    action: str  # "send", "defer", "skip", "cancel"
    reason: str = ""
    due_at: datetime | None = None


def allowed_window(patient: Patient) -> tuple[time, time]:
    """The allowed local window (start, end): the complement of the quiet hours."""
    messaging = getattr(patient.home_location, "messaging", None)
    if messaging is not None:
        return messaging.quiet_end, messaging.quiet_start
    return time(*settings.QUIET_HOURS_END), time(*settings.QUIET_HOURS_START)


def gate(
    message: OutboundMessage, now: datetime | None = None, facts: ChunkFacts | None = None
) -> Gate:
    """Whether the patient's protections let `message` go now, and if not, what to do.

    `facts`: the sweep's consent and cap facts read once for its chunk (`comms.chunk`);
    without them each is queried for this row.
    """
    now = now or timezone.now()
    patient = message.patient
    appointment = message.appointment
    if message.purpose == Purpose.REMINDER and appointment is not None:
        if facts is None:
            # Read fresh: the visit may have been cancelled or moved since the row was
            # claimed. (The sweep loads its rows, visits included, right after claiming them.)
            appointment.refresh_from_db(fields=["status", "start"])
        if appointment.status not in ACTIVE_STATUSES:
            return Gate("cancel", f"appointment is {appointment.get_status_display().lower()}")
        if appointment.start <= now:
            return Gate("skip", "the visit has already started")
    opted_out = (
        facts.is_opted_out(patient.pk, message.channel)
        if facts is not None
        else consent.is_opted_out(patient.pk, message.channel)
    )
    if opted_out:
        return Gate("skip", f"patient opted out of {message.channel}")
    if message.purpose in TRANSACTIONAL_PURPOSES:
        return Gate("send")  # the patient is waiting for this answer to their own message
    zone = patient.effective_time_zone
    start, end = allowed_window(patient)
    if message.channel == "sms" and not message.urgent:
        since = now - CAP_LOOKBACK
        sent = (
            facts.sms_sent_since(message, since)
            if facts is not None
            else list(
                OutboundMessage.objects.filter(
                    patient=patient,
                    channel="sms",
                    sent_at__gte=since,
                    status__in=[Status.SENT, Status.DELIVERED],
                )
                .exclude(purpose__in=TRANSACTIONAL_PURPOSES)
                .exclude(pk=message.pk)
                .values_list("sent_at", flat=True)
            )
        )
        allowed_at, why = next_time_within_caps(
            sent,
            now,
            zone,
            per_day=settings.SMS_CAP_PER_DAY or None,
            per_week=settings.SMS_CAP_PER_WEEK or None,
            start=start,
            end=end,
        )
    else:
        allowed_at, why = next_allowed_time(now, zone, start, end)
    if allowed_at > now:
        if (
            message.purpose == Purpose.REMINDER
            and appointment is not None
            and (allowed_at >= appointment.start - timedelta(minutes=30))
        ):
            return Gate("skip", f"{why}: the next allowed time is too close to the visit")
        return Gate("defer", why or "deferred", allowed_at)
    return Gate("send")


def _finish(message: OutboundMessage, **fields) -> bool:
    """Write the outcome of this attempt unless a newer attempt took the row over."""
    fields.setdefault("updated_at", timezone.now())
    done = OutboundMessage.objects.filter(
        pk=message.pk, status=Status.SENDING, attempts=message.attempts
    ).update(**fields)
    if not done:
        log.warning(
            "message %s: attempt %s lost its lease; outcome not written",
            message.pk,
            message.attempts,
        )
    return bool(done)


def deliver(
    message: OutboundMessage,
    channels: Callable[[str], Channel] | None = None,
    *,
    facts: ChunkFacts | None = None,
    sent_log: SentLog | None = None,
) -> str:
    """Send one claimed row (status sending) and record what happened; returns the new status.

    `channels` maps a channel name to the object that sends it (default: the process-wide
    `channel_for`); a thread sending in parallel passes its own. The sweep passes its chunk's
    `facts` and a `sent_log` that records successful sends for the whole chunk at once (the
    caller flushes it); every other outcome is written here and now.
    """
    now = timezone.now()
    decision = gate(message, now, facts)
    if decision.action in {"skip", "cancel"}:
        status = Status.SKIPPED if decision.action == "skip" else Status.CANCELLED
        if _finish(message, status=status, reason=decision.reason, lease_until=None):
            event(message.pk, status, decision.reason)
        return status
    if decision.action == "defer":
        # A deferral is not a failed attempt: give the attempt back.
        if _finish(
            message,
            status=Status.QUEUED,
            due_at=decision.due_at,
            reason=decision.reason,
            lease_until=None,
            attempts=F("attempts") - 1,
        ):
            event(
                message.pk,
                "deferred",
                f"{decision.reason} until {decision.due_at:%Y-%m-%d %H:%M} UTC",
            )
        return Status.QUEUED
    try:
        channel = (channels or channel_for)(message.channel)
    except ChannelDisabled as exc:
        if _finish(message, status=Status.SKIPPED, reason=str(exc), lease_until=None):
            event(message.pk, "skipped", str(exc))
        return Status.SKIPPED
    payload = outgoing(message)
    if message.outcome_unknown:
        try:
            existing = channel.find_existing(
                payload, since=message.created_at - timedelta(minutes=5)
            )
        except DeliveryError as exc:
            return _retry(message, exc, "could not check the provider before re-sending")
        if existing:
            if _finish(
                message,
                status=Status.SENT,
                provider_id=existing,
                sent_at=now,
                outcome_unknown=False,
                lease_until=None,
                reason="the provider already had it; not sent again",
            ):
                event(message.pk, "found_at_provider", existing)
            return Status.SENT
    try:
        result = channel.send(payload)
    except DeliveryError as exc:
        return _failed_attempt(message, exc)
    if facts is not None:
        facts.record_sent(message, now)
    if sent_log is not None:
        sent_log.add(
            message,
            provider_id=result.provider_id,
            provider_status=result.status,
            sent_at=now,
            segments=result.segments,
        )
    elif _finish(
        message,
        status=Status.SENT,
        provider_id=result.provider_id,
        provider_status=result.status,
        sent_at=now,
        outcome_unknown=False,
        lease_until=None,
        reason="",
        error_code="",
        error_text="",
        segments=result.segments if result.segments is not None else message.segments,
    ):
        event(message.pk, "sent", result.provider_id)
    log.info("message %s sent via %s as %s", message.pk, message.channel, result.provider_id)
    return Status.SENT


def _failed_attempt(message: OutboundMessage, exc: DeliveryError) -> str:
    if exc.permanent:
        if _finish(
            message,
            status=Status.FAILED,
            error_code=exc.code,
            error_text=exc.text[:300],
            reason=f"provider refused: {exc.text}"[:300],
            lease_until=None,
        ):
            event(message.pk, "failed", f"{exc.code} {exc.text}")
        if exc.code == "21610":  # the carrier says this number replied STOP
            consent.set_consent(message.patient, "sms", opted_out=True, source="provider_21610")
        log.info("message %s failed permanently: %s", message.pk, exc.code)
        return Status.FAILED
    return _retry(message, exc, "transient error")


def _retry(message: OutboundMessage, exc: DeliveryError, what: str) -> str:
    if message.attempts >= MAX_ATTEMPTS:
        if _finish(
            message,
            status=Status.FAILED,
            error_code=exc.code,
            error_text=exc.text[:300],
            reason=f"gave up after {message.attempts} attempts",
            lease_until=None,
        ):
            event(message.pk, "failed", f"gave up: {exc.code}")
        return Status.FAILED
    delay = BACKOFF_S[min(message.attempts, len(BACKOFF_S)) - 1]
    due = timezone.now() + timedelta(seconds=delay)
    if _finish(
        message,
        status=Status.QUEUED,
        due_at=due,
        error_code=exc.code,
        error_text=exc.text[:300],
        outcome_unknown=exc.outcome_unknown or F("outcome_unknown"),
        lease_until=None,
        reason=f"{what}; retry in {delay}s",
    ):
        event(message.pk, "retry", f"{exc.code}: {exc.text}"[:300])
    return Status.QUEUED


def cancel_pending(queryset, reason: str) -> int:
    """Withdraw queued messages (e.g. reminders of a cancelled visit), recording why."""
    ids = list(queryset.filter(status=Status.QUEUED).values_list("pk", flat=True))
    count = OutboundMessage.objects.filter(pk__in=ids, status=Status.QUEUED).update(
        status=Status.CANCELLED, reason=reason[:300], updated_at=timezone.now()
    )
    MessageEvent.objects.bulk_create(
        [MessageEvent(message_id=i, kind="cancelled", detail=reason[:300]) for i in ids]
    )
    return count

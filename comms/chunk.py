"""The sweep's chunk-at-a-time database work: claim, read the send-time facts, record sends.

Sending one row used to cost five round trips to the database (consent, caps, the location's
quiet hours, the outcome and its event) around one call to the provider, which made the sweep
database-bound. For a chunk of claimed rows the sweep now:

- claims them with one statement (`claim_chunk`);
- reads what `outbox.gate` needs for all of them at once (`ChunkFacts`: opt-outs, recent capped
  SMS per patient) right after loading the rows, so the facts are as fresh as the rows;
- writes every successful send's outcome and its event in one statement (`SentLog.flush`),
  still guarded by the attempt number.

A worker killed after a send but before the flush leaves its rows `sending`; when their lease
runs out they are requeued as outcome-unknown and the provider is asked before any re-send, as
for a kill mid-send. An opt-out or a cancellation that lands while a chunk is being sent (tens
of milliseconds) is not seen by that chunk's remaining rows, as a change landing between a
check and a send never was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from comms.models import (
    TRANSACTIONAL_PURPOSES,
    ChannelConsent,
    MessageEvent,
    OutboundMessage,
    Status,
)

# How far back sends count against the daily and weekly caps (the week, plus a day of slack
# for time zones): the same window `outbox.gate` queries one row at a time.
CAP_LOOKBACK = timedelta(days=8)


def claim_chunk(limit: int, lease: timedelta) -> list[int]:
    """Claim up to `limit` due rows (oldest due first); rows being claimed elsewhere are skipped.

    One statement on PostgreSQL (`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`),
    a short transaction elsewhere.
    """
    now = timezone.now()
    if connection.vendor != "postgresql":
        return _claim_portable(limit, lease, now)
    table = OutboundMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET status = %s, lease_until = %s, attempts = attempts + 1,
                   updated_at = %s
             WHERE id IN (SELECT id FROM {table}
                           WHERE status = %s AND due_at <= %s
                           ORDER BY due_at LIMIT %s
                           FOR UPDATE SKIP LOCKED)
            RETURNING id, due_at
            """,  # noqa: S608 - the table name is the model's, every value a parameter
            [Status.SENDING, now + lease, now, Status.QUEUED, now, limit],
        )
        claimed = cursor.fetchall()
    return [pk for pk, _ in sorted(claimed, key=lambda row: (row[1], row[0]))]


def _claim_portable(limit: int, lease: timedelta, now: datetime) -> list[int]:
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(status=Status.QUEUED, due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            OutboundMessage.objects.filter(pk__in=ids, status=Status.QUEUED).update(
                status=Status.SENDING,
                lease_until=now + lease,
                attempts=F("attempts") + 1,
                updated_at=now,
            )
    return ids


@dataclass
class ChunkFacts:
    """What `outbox.gate` reads per row, read once for a chunk of claimed rows."""

    opted_out: set[tuple[int, str]] = field(default_factory=set)
    # patient id -> [(message id, sent_at)] of SMS that count against the caps
    capped_sms: dict[int, list[tuple[int, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @classmethod
    def load(cls, messages: Iterable[OutboundMessage], now: datetime) -> ChunkFacts:
        messages = list(messages)
        facts = cls()
        patients = {m.patient_id for m in messages}
        if not patients:
            return facts
        facts.opted_out = set(
            ChannelConsent.objects.filter(patient_id__in=patients, opted_out=True).values_list(
                "patient_id", "channel"
            )
        )
        capped = {m.patient_id for m in messages if m.channel == "sms" and not m.urgent}
        if capped:
            rows = (
                OutboundMessage.objects.filter(
                    patient_id__in=capped,
                    channel="sms",
                    sent_at__gte=now - CAP_LOOKBACK,
                    status__in=[Status.SENT, Status.DELIVERED],
                )
                .exclude(purpose__in=TRANSACTIONAL_PURPOSES)
                .values_list("patient_id", "pk", "sent_at")
            )
            for patient_id, pk, sent_at in rows:
                facts.capped_sms[patient_id].append((pk, sent_at))
        return facts

    def is_opted_out(self, patient_id: int, channel: str) -> bool:
        return (patient_id, channel) in self.opted_out

    def sms_sent_since(self, message: OutboundMessage, since: datetime) -> list[datetime]:
        """Capped SMS sent to the patient since `since`, this message itself excluded."""
        return [
            at
            for pk, at in self.capped_sms.get(message.patient_id, ())
            if pk != message.pk and at >= since
        ]

    def record_sent(self, message: OutboundMessage, at: datetime) -> None:
        """A row of this chunk went out: later rows for the same patient count it."""
        if message.channel == "sms" and message.purpose not in TRANSACTIONAL_PURPOSES:
            self.capped_sms[message.patient_id].append((message.pk, at))


@dataclass(frozen=True)
class _Sent:
    message_id: int
    attempts: int
    provider_id: str
    provider_status: str
    sent_at: datetime
    segments: int | None


@dataclass
class SentLog:
    """Successful sends of a chunk, recorded together by `flush` (outcome and event)."""

    rows: list[_Sent] = field(default_factory=list)

    def add(
        self,
        message: OutboundMessage,
        *,
        provider_id: str,
        provider_status: str,
        sent_at: datetime,
        segments: int | None,
    ) -> None:
        self.rows.append(
            _Sent(message.pk, message.attempts, provider_id, provider_status, sent_at, segments)
        )

    def flush(self) -> list[int]:
        """Write every pending outcome unless a newer attempt took the row over; returns the
        ids written. Each written row gets its `sent` event in the same statement."""
        rows, self.rows = self.rows, []
        if not rows:
            return []
        if connection.vendor == "postgresql":
            return _flush_postgres(rows)
        return _flush_portable(rows)


_SENT_FIELDS = {
    "status": Status.SENT,
    "outcome_unknown": False,
    "lease_until": None,
    "reason": "",
    "error_code": "",
    "error_text": "",
}


def _flush_postgres(rows: Sequence[_Sent]) -> list[int]:
    messages = OutboundMessage._meta.db_table
    events = MessageEvent._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s::timestamptz, %s::integer)"] * len(rows))
    params: list[object] = []
    for row in rows:
        params += [
            row.message_id,
            row.attempts,
            row.provider_id,
            row.provider_status,
            row.sent_at,
            row.segments,
        ]
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH v (id, attempts, provider_id, provider_status, sent_at, segments) AS (
                VALUES {values}
            ), written AS (
                UPDATE {messages} m
                   SET status = %s, provider_id = v.provider_id,
                       provider_status = v.provider_status, sent_at = v.sent_at,
                       segments = COALESCE(v.segments, m.segments),
                       outcome_unknown = false, lease_until = NULL, reason = '',
                       error_code = '', error_text = '', updated_at = %s
                  FROM v
                 WHERE m.id = v.id AND m.status = %s AND m.attempts = v.attempts
                RETURNING m.id, m.provider_id
            )
            INSERT INTO {events} (message_id, at, kind, detail)
            SELECT id, %s, 'sent', provider_id FROM written
            RETURNING message_id
            """,  # noqa: S608 - table names are the models', every value a parameter
            [*params, Status.SENT, now, Status.SENDING, now],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _flush_portable(rows: Sequence[_Sent]) -> list[int]:
    written = []
    now = timezone.now()
    with transaction.atomic():
        for row in rows:
            extra = {} if row.segments is None else {"segments": row.segments}
            done = OutboundMessage.objects.filter(
                pk=row.message_id, status=Status.SENDING, attempts=row.attempts
            ).update(
                **_SENT_FIELDS,
                provider_id=row.provider_id,
                provider_status=row.provider_status,
                sent_at=row.sent_at,
                updated_at=now,
                **extra,
            )
            if done:
                written.append(row.message_id)
        done = set(written)
        MessageEvent.objects.bulk_create(
            [
                MessageEvent(message_id=row.message_id, at=now, kind="sent", detail=row.provider_id)
                for row in rows
                if row.message_id in done
            ]
        )
    return written

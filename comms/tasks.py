"""Celery tasks of comms: thin shells that take ids and call the outbox.

Safe to run twice: a task only acts on a row it claims with a guarded update. No countdown or
ETA is ever used (retries are rows with a later `due_at`), so nothing can outlive the broker's
visibility timeout and be redelivered.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone

from comms import delivery, outbox
from comms.channels.base import Channel, ChannelDisabled
from comms.chunk import ChunkFacts, SentLog
from comms.models import WorkerHeartbeat

log = logging.getLogger(__name__)

HEARTBEAT_KEEP = timedelta(days=2)
SWEEP_BATCH = 200
# Rows a sweep thread claims at once: small, so a killed worker strands few of them.
CLAIM_CHUNK = 10
# Sender threads per sweep, each with its own DB connection and twilio client.
SEND_THREADS = 4


@shared_task(bind=True, ignore_result=False, max_retries=3)
def heartbeat(self) -> int:
    """Record that a worker ran a beat-scheduled task; prune old beats. Returns the row id."""
    row = WorkerHeartbeat.objects.create(
        worker=self.request.hostname or "", task_id=self.request.id or ""
    )
    WorkerHeartbeat.objects.filter(beat_at__lt=timezone.now() - HEARTBEAT_KEEP).delete()
    log.info("heartbeat %s", row.pk)
    return row.pk


@shared_task(max_retries=3, ignore_result=True)
def dispatch_message(message_id: int) -> str | None:
    """Fast path: send one message right after the transaction that wrote it committed."""
    message = outbox.claim(message_id)
    if message is None:
        return None  # not due yet, already taken, or already done: the sweep has it
    return outbox.deliver(message)


def sweep_budget_s() -> float:
    """Seconds one sweep may keep claiming: half the soft time limit.

    A task killed by its time limit strands every row it claimed but had not sent until the
    lease runs out (time limit + 60 s), so the sweep claims small chunks, stops early, gives
    back what it did not start and re-publishes itself instead.
    """
    return max(1.0, (settings.TASK_TIME_LIMIT_S - 5) / 2)


@dataclass
class _Share:
    """One sender thread's part of a sweep: how many rows it may send, and what happened."""

    limit: int
    sent: int = 0
    more: bool = False  # stopped with rows still due (time budget or an error)
    channels: dict[str, Channel] = field(default_factory=dict)

    def channel(self, name: str) -> Channel:
        """This thread's own channel. The twilio client keeps the response on the client
        object and returns it from there, so threads sharing one could swap responses."""
        if name not in self.channels:
            built = delivery.build_channel(name)
            if isinstance(built, str):
                raise ChannelDisabled(built)
            self.channels[name] = built
        return self.channels[name]


def _sweep(share: _Share, deadline: float, stop: threading.Event) -> None:
    """Claim small chunks of due rows and send them, one by one, until the share, the time
    budget or the due rows run out. Runs in its own thread with its own DB connection.

    Per chunk the database is asked a fixed number of times (claim, rows, consent and caps,
    recorded sends), not per row: see `comms.chunk`."""
    while share.sent < share.limit:
        if stop.is_set() or time.monotonic() >= deadline:
            share.more = True
            return
        chunk = min(CLAIM_CHUNK, share.limit - share.sent)
        pending = outbox.claim_due(chunk)
        if not pending:
            return
        full = len(pending) == chunk
        rows = outbox.OutboundMessage.objects.select_related(
            "patient__home_location__messaging", "appointment"
        ).in_bulk(pending)
        facts = ChunkFacts.load(rows.values(), timezone.now())
        sent_log = SentLog()
        try:
            while pending and not stop.is_set() and time.monotonic() < deadline:
                # Popped before sending: if the worker dies mid-send, this row keeps its
                # lease (outcome unknown) instead of being given back as never attempted.
                message = rows[pending.pop(0)]
                outbox.deliver(message, channels=share.channel, facts=facts, sent_log=sent_log)
                share.sent += 1
        finally:
            sent_log.flush()
            outbox.release_claims(pending)
        if pending:
            share.more = True
            return
        if not full:
            return  # that was the last of what is due


def _sweep_thread(share: _Share, deadline: float, stop: threading.Event) -> None:
    try:
        _sweep(share, deadline, stop)
    except Exception:
        share.more = True  # let a fresh sweep carry on; rows of a failed send are leased
        log.exception("outbox sweep thread failed")
    finally:
        connection.close()  # this thread's own connection: threads do not outlive the task


@shared_task(max_retries=3, ignore_result=True)
def dispatch_due(limit: int = SWEEP_BATCH) -> int:
    """The periodic sweep: requeue rows of dead workers, then send whatever is due.

    Sends at most `limit` rows within `sweep_budget_s()` seconds, from SEND_THREADS threads
    (sending is mostly waiting on Twilio and the database); if more is due it queues another
    sweep rather than waiting for the next beat.
    """
    outbox.release_expired_leases()
    deadline = time.monotonic() + sweep_budget_s()
    threads = max(1, min(SEND_THREADS, limit))
    shares = [_Share(limit // threads + (i < limit % threads)) for i in range(threads)]
    stop = threading.Event()
    workers = [
        threading.Thread(target=_sweep_thread, args=(share, deadline, stop), daemon=True)
        for share in shares
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except BaseException:  # e.g. the soft time limit, raised in this thread only
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        raise
    sent = sum(share.sent for share in shares)
    if any(share.more for share in shares) or sent >= limit:
        dispatch_due.delay(limit)  # more is due: keep going without waiting for the next beat
    return sent

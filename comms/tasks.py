"""Celery tasks of comms: thin shells that take ids and call the outbox.

Safe to run twice: a task only acts on a row it claims with a guarded update. No countdown or
ETA is ever used (retries are rows with a later `due_at`), so nothing can outlive the broker's
visibility timeout and be redelivered.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from comms import outbox
from comms.models import WorkerHeartbeat

log = logging.getLogger(__name__)

HEARTBEAT_KEEP = timedelta(days=2)
SWEEP_BATCH = 200


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


@shared_task(max_retries=3, ignore_result=True)
def dispatch_due(limit: int = SWEEP_BATCH) -> int:
    """The periodic sweep: requeue rows of dead workers, then send whatever is due."""
    outbox.release_expired_leases()
    sent = 0
    for message_id in outbox.claim_due(limit):
        message = outbox.OutboundMessage.objects.select_related(
            "patient__home_location", "appointment"
        ).get(pk=message_id)
        outbox.deliver(message)
        sent += 1
    if sent == limit:
        dispatch_due.delay(limit)  # more is due: keep going without waiting for the next beat
    return sent

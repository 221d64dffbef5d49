"""Celery tasks of comms: thin shells that take ids and call services."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from comms.models import WorkerHeartbeat

log = logging.getLogger(__name__)

HEARTBEAT_KEEP = timedelta(days=2)


@shared_task(bind=True, ignore_result=False, max_retries=3)
def heartbeat(self) -> int:
    """Record that a worker ran a beat-scheduled task; prune old beats. Returns the row id."""
    row = WorkerHeartbeat.objects.create(
        worker=self.request.hostname or "", task_id=self.request.id or ""
    )
    WorkerHeartbeat.objects.filter(beat_at__lt=timezone.now() - HEARTBEAT_KEEP).delete()
    log.info("heartbeat %s", row.pk)
    return row.pk

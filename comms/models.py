"""Messaging records. The outbox and consent live here; so does the worker heartbeat."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """One row per beat: proof that beat -> broker -> worker -> database works end to end."""

    beat_at = models.DateTimeField(default=timezone.now, db_index=True)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return f"heartbeat {self.beat_at:%Y-%m-%d %H:%M:%S} from {self.worker or '?'}"

"""A real Celery worker consumes from Redis and runs the heartbeat task end to end."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from comms.models import WorkerHeartbeat
from comms.tasks import heartbeat
from config.celery_app import app

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_worker_runs_heartbeat_from_redis():
    assert app.conf.broker_url.startswith("redis://")
    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=10
    ):
        result = heartbeat.delay()
        row_id = result.get(timeout=30)
    row = WorkerHeartbeat.objects.get(pk=row_id)
    assert row.task_id == result.id


def test_worker_settings_protect_against_loss():
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.task_retry_on_worker_lost
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert "heartbeat" in conf.beat_schedule

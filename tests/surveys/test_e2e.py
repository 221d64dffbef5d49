"""End to end on the real stack: PostgreSQL, Redis, a Celery worker, the outbox and SMTP.

A visit is marked completed -> the invitation e-mail reaches a real SMTP server with the link ->
the patient answers on the page -> the answer is analysed -> a negative answer opens a ticket
and the manager's alert reaches the SMTP server too.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery_app import app
from surveys.models import Comment, Invitation, Ticket
from tests.polling import wait_until
from tests.surveys.conftest import past_visit

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("migration_data"),
]


def test_completed_visit_to_ticket_through_worker_outbox_and_smtp(
    clinic, manager, smtp, settings, client
):
    settings.SURVEY_DELAY_HOURS = 0  # due at once, so the outbox fast path sends it
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = (8, 0)  # no quiet hours
    settings.PUBLIC_BASE_URL = "http://clinic.test"
    patient = clinic.patient
    patient.preferred_channel = "email"
    patient.save()
    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10
    ):
        appointment = past_visit(clinic)
        invite = wait_until(lambda: smtp.messages, "the invitation e-mail")[0]
        assert invite["To"] == patient.email and invite["Subject"] == "How was your visit?"
        body = invite.get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"http://clinic\.test/s/\S+/", body).group(0)
        invitation = Invitation.objects.get(appointment=appointment)
        assert invitation.message.status == "sent"

        path = urlparse(link).path
        assert client.get(path).status_code == 200
        page = client.post(
            path,
            {
                "q_nps": "8",
                "q_do_better": "The doctor was rude and dismissive and I waited two hours.",
                "action": "submit",
            },
        )
        assert page.status_code == 200
        alert = wait_until(lambda: smtp.messages[1:], "the manager alert")[0]
    comment = Comment.objects.get(response__invitation=invitation)
    assert comment.sentiment == "negative"
    ticket = Ticket.objects.get(response__invitation=invitation)
    assert "negative" in ticket.reasons
    assert alert["To"] == "lead@clinic.example" and f"#{ticket.pk}" in alert["Subject"]
    alert_text = alert["Subject"] + alert.get_body(preferencelist=("plain",)).get_content()
    assert patient.first_name not in alert_text and patient.last_name not in alert_text
    assert "rude" not in alert_text

"""Celery tasks of surveys: thin shells that take ids and call the services.

No countdown or ETA (they outlive the broker's visibility timeout and run twice): an alert that
failed is found again by the periodic sweep, which is the retry.
"""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from surveys import invitations, tickets

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def notify_ticket(ticket_id: int) -> int:
    """E-mail the managers about one ticket; a failure is retried by `survey_sweep`."""
    try:
        return tickets.notify_managers(ticket_id)
    except (smtplib.SMTPException, OSError) as exc:
        log.warning(
            "ticket %s alert not sent (%s); the sweep retries", ticket_id, type(exc).__name__
        )
        return 0


@shared_task(ignore_result=True)
def survey_sweep() -> dict[str, int]:
    """Periodic: follow invitation messages, expire old links, remind non-responders once,
    retry managers' alerts that did not go out."""
    counts = invitations.sweep()
    alerted = 0
    for ticket_id in tickets.unalerted_ticket_ids():
        alerted += bool(notify_ticket(ticket_id))
    counts["alerts"] = alerted
    log.info("survey sweep %s", counts)
    return counts

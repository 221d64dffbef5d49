"""Celery tasks of surveys: thin shells that take ids and call the services.

No countdown or ETA (they outlive the broker's visibility timeout and run twice): an alert that
failed is found again by the periodic sweep, which is the retry.
"""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from surveys import invitations, rollup, tickets

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


@shared_task(ignore_result=True)
def rebuild_rollups(days: int = 14) -> int:
    """Periodic safety net: recount the dashboard's roll-ups of the last `days` days (and any
    later day) from the raw rows, in case a row changed without a signal (a bulk import, raw SQL).
    The write paths keep them exact; this only repairs what bypassed them."""
    written = rollup.rebuild_recent(days)
    log.info("dashboard roll-ups rebuilt: %s rows", written)
    return written

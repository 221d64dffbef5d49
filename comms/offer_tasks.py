"""The periodic step of waitlist offers: expire stale ones, send the next batch."""

from __future__ import annotations

import logging

from celery import shared_task

from comms import offers

log = logging.getLogger(__name__)


@shared_task(max_retries=3, ignore_result=True)
def advance_offers() -> dict[str, int]:
    """Safe to run twice: each release is handled under its row lock, from its current state."""
    stats = offers.advance()
    if any(stats.values()):
        log.info("waitlist offers advanced: %s", stats)
    return stats

"""Celery task for the managers' weekly report (beat: Mondays 07:00, config/settings.py)."""

from __future__ import annotations

from celery import shared_task

from surveys import reports


@shared_task(max_retries=2, ignore_result=True)
def send_weekly_reports() -> int:
    """Send every location's weekly report to its managers; returns the e-mails sent."""
    return reports.send_weekly_reports()

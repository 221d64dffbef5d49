"""Celery task that drafts LLM wording for the segments upcoming visits need.

Offline by design: patients' messages never wait on an LLM. Drafts are stored for a Manager to
approve (`comms.approvals`); until then, and whenever the LLM is not configured, templates are
used. Safe to run twice: a segment with an approved or waiting variant is skipped, and one whose
last draft failed is not retried within the hour.
"""

from __future__ import annotations

import logging

from celery import shared_task

from comms import approvals

log = logging.getLogger(__name__)


@shared_task(ignore_result=False, max_retries=0)
def draft_missing_variants(days: int = 14) -> dict[str, int | str]:
    """Draft variants for segments of the next `days` days that have none; returns counts.

    Without OPENAI_API_KEY it does nothing and says so (`{"skipped": "..."}`).
    """
    if not approvals.llm_configured():
        log.info("draft_missing_variants: OPENAI_API_KEY not set, templates only")
        return {"skipped": "OPENAI_API_KEY is not set; messages use templates only"}
    in_use = approvals.segments_in_use(days=days)
    missing = approvals.segments_needing_drafts(in_use)
    stored = approvals.draft_variants(missing)
    counts: dict[str, int | str] = {"segments": len(in_use), "drafted": len(stored)}
    for row in stored:
        counts[row.status] = int(counts.get(row.status, 0)) + 1
    log.info("draft_missing_variants %s", counts)
    return counts


def demo_drafting() -> str:
    """For `make demo`: draft wording once if an LLM is configured; say what patients get."""
    result = draft_missing_variants()
    if "skipped" in result:
        return "LLM: not configured (OPENAI_*), so every message uses its template."
    return (
        f"LLM: {result['drafted']} variant(s) drafted for {result['segments']} segment(s); "
        "templates are used until a manager approves them (admin > Messages > Message variants)."
    )

"""The weekly e-mail per location: the dashboard's figures for the last 7 days vs the 7 before.

Numbers come from `surveys.insights_queries` (the same aggregates as the dashboard). An optional
narrative is written by the LLM when one is configured; it may only quote comments verbatim and
cite the figures it was given (`surveys.narrative` checks both), otherwise the plain summary is
sent alone. The e-mail names no patient: figures, and quotes of comments only when checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from pydantic import BaseModel

from comms.llm import LLMEngine
from comms.privacy import IdentifierLeak, PatientIdentifiers
from scheduling.models import Location
from surveys import insights_queries as q
from surveys.models import LocationManager
from surveys.narrative import Problem, validate_narrative

log = logging.getLogger(__name__)

REPORT_DAYS = 7
MAX_QUOTABLE_COMMENTS = 8
_NARRATIVE_SYSTEM = (
    "You summarise a clinic location's weekly patient-experience figures for its manager in "
    "3 to 5 plain sentences. Use only the figures given, written as given or rounded. Quote "
    'patient comments only word for word inside double quotes ("..."), or not at all. Never '
    "invent numbers, names, dates or causes. Answer with the JSON object requested."
)


class NarrativeOut(BaseModel):
    """The structured reply asked of the model."""

    narrative: str


@dataclass
class LocationReport:
    """One location's week, as plain data (no patient identifiers)."""

    location_id: int
    location_name: str
    start: date
    end: date
    cards: list[dict[str, Any]]
    topbox: list[dict[str, Any]]
    themes: list[dict[str, Any]]
    tickets: dict[str, int]
    comments: list[str] = field(default_factory=list)
    identifiers: list[PatientIdentifiers] = field(default_factory=list, repr=False)

    def figures(self) -> dict[str, float | int | None]:
        """Every number the narrative may cite, by name."""
        out: dict[str, float | int | None] = {"days": REPORT_DAYS}
        for c in self.cards:
            out[c["key"]] = c["value"]
            out[f"{c['key']}_n"] = c["n"]
            out[f"{c['key']}_previous"] = c["previous"]
            out[f"{c['key']}_change"] = c["change"]
        for t in self.topbox:
            out[f"topbox_{t['code']}"] = t["share"]
            out[f"topbox_{t['code']}_n"] = t["n"]
        for t in self.themes:
            out[f"theme_{t['theme']}_negative"] = t["negative"]
            out[f"theme_{t['theme']}_total"] = t["total"]
        out["open_tickets"] = self.tickets["open"]
        out["overdue_tickets"] = self.tickets["overdue"]
        return out


def build_report(location: Location, today: date | None = None) -> LocationReport:
    """The figures of the 7 days up to yesterday at `location`, against the 7 days before."""
    today = today or timezone.localdate()
    f = q.Filters(start=today - timedelta(days=REPORT_DAYS), end=today - timedelta(days=1))
    f = q.Filters(start=f.start, end=f.end, location=location.pk)
    recent = list(
        q.comments(f)
        .select_related("response__invitation__patient")
        .order_by("-visit_date", "-pk")[:MAX_QUOTABLE_COMMENTS]
    )
    identifiers = [
        PatientIdentifiers(
            first_name=c.response.invitation.patient.first_name,
            last_name=c.response.invitation.patient.last_name,
        )
        for c in recent
    ]
    return LocationReport(
        location_id=location.pk,
        location_name=location.name,
        start=f.start,
        end=f.end,
        cards=q.headline_cards(f),
        topbox=q.top_box(f),
        themes=q.theme_sentiment(f),
        tickets=q.ticket_counts(f, today),
        comments=[c.text for c in recent],
        identifiers=identifiers,
    )


def _number(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def plain_summary(report: LocationReport) -> str:
    """The always-available text: one line per figure, with sample size and change."""
    lines = [f"{report.location_name}: {report.start:%d %b} to {report.end:%d %b %Y}", ""]
    for c in report.cards:
        change = ""
        if c["change"] is not None:
            change = f" ({'+' if c['change'] > 0 else ''}{c['change']:.0f} vs the week before)"
        lines.append(f"- {c['label']}: {_number(c['value'], c['unit'])}, n={c['n']}{change}")
    for t in report.topbox:
        lines.append(f"- Top box, {t['code']}: {_number(t['share'], '%')}, n={t['n']}")
    negative = [t for t in report.themes if t["negative"]]
    if negative:
        worst = ", ".join(f"{t['theme']} ({t['negative']})" for t in negative[:3])
        lines.append(f"- Themes with negative comments: {worst}")
    lines.append(
        f"- Tickets: {report.tickets['open']} open, {report.tickets['overdue']} overdue (now)"
    )
    return "\n".join(lines)


def engine_from_settings() -> LLMEngine | None:
    """The LLM when OPENAI_API_KEY is set; None means: plain summary only."""
    if not getattr(settings, "OPENAI_API_KEY", ""):
        return None
    return LLMEngine(
        api_key=settings.OPENAI_API_KEY,
        model=settings.OPENAI_MODEL,
        base_url=settings.OPENAI_BASE_URL or None,
        timeout_s=float(settings.OPENAI_TIMEOUT_S),
        max_retries=1,
    )


def llm_narrative(
    report: LocationReport, engine: LLMEngine
) -> tuple[str | None, list[Problem] | str]:
    """(narrative, []) when the model's text passes the checks; (None, why) otherwise."""
    figures = {k: v for k, v in report.figures().items() if v is not None}
    payload = {
        "location": report.location_name,
        "figures": {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()},
        "comments": report.comments,
    }
    messages = [
        {"role": "system", "content": _NARRATIVE_SYSTEM},
        {"role": "user", "content": f"This week's data as JSON:\n{payload}"},
    ]
    try:
        # The engine's guarded call: timeout, bounded retries, identifier check before sending.
        out, _usage, failure = engine._call(
            messages, NarrativeOut, report.identifiers, f"report-{report.location_id}"
        )
    except IdentifierLeak as leak:
        log.warning("report narrative refused location=%s kinds=%s", report.location_id, leak)
        return None, "identifier_leak"
    if failure or out is None:
        return None, failure.code.value if failure else "empty"
    text = out.narrative.strip()
    problems = validate_narrative(text, report.comments, figures)
    if problems:
        log.info(
            "report narrative rejected location=%s problems=%s",
            report.location_id,
            ",".join(p.kind for p in problems),
        )
        return None, problems
    return text, []


def compose(report: LocationReport, engine: LLMEngine | None = None) -> tuple[str, str, str]:
    """(subject, body, source) where source is 'llm' or 'plain'."""
    subject = f"Weekly patient experience: {report.location_name}, week to {report.end:%d %b %Y}"
    summary = plain_summary(report)
    narrative = None
    if engine is not None:
        narrative, _why = llm_narrative(report, engine)
    if narrative:
        return subject, f"{narrative}\n\n{summary}", "llm"
    return subject, summary, "plain"


def send_weekly_reports(today: date | None = None, engine: LLMEngine | None = None) -> int:
    """E-mail each location's report to its managers who asked for it. Returns e-mails sent."""
    engine = engine if engine is not None else engine_from_settings()
    recipients: dict[int, list[str]] = {}
    for lm in LocationManager.objects.filter(weekly_report=True).select_related("user"):
        if lm.user.is_active and lm.user.email:
            recipients.setdefault(lm.location_id, []).append(lm.user.email)
    sent = 0
    for location in Location.objects.filter(pk__in=recipients):
        subject, body, source = compose(build_report(location, today), engine)
        send_mail(subject, body, None, sorted(set(recipients[location.pk])))
        sent += 1
        log.info("weekly report sent location=%s source=%s", location.pk, source)
    return sent

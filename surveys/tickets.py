"""Service recovery: a poor, worrying or contradictory response opens one ticket and alerts the
location's managers.

Safety never rests on the sentiment model: the analysis's safety flag comes from keyword rules,
and a safety comment opens a high-priority ticket even when its sentiment reads positive.

The managers' e-mail carries ids, the location and a link to the ticket in the admin: never the
patient's name, the visit date or the comment text (PHI stays behind the staff login).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from surveys.models import Comment, LocationManager, Response, Sentiment, Ticket, TicketStatus

log = logging.getLogger(__name__)

DETRACTOR_MAX = 6  # NPS 0-6
CONTRADICTION_HIGH_NPS = 9  # a promoter who writes a complaint
CONTRADICTION_LOW_NPS = 3  # a strong detractor who writes only praise
CLEARLY_POSITIVE = 0.5  # comment score (P(pos) - P(neg)) that counts as clear praise
ALERT_MARK = "[alert e-mailed]"
REASON_ORDER = ("safety", "detractor", "negative", "contradiction")


def reasons_for(response: Response, comments: Sequence[Comment]) -> list[str]:
    """Why this response needs a call back, in REASON_ORDER; empty if it does not."""
    nps = response.nps
    sentiments = [c.effective_sentiment for c in comments]
    found = set()
    if any(c.safety for c in comments):
        found.add("safety")
    if nps is not None and nps <= DETRACTOR_MAX:
        found.add("detractor")
    if Sentiment.NEGATIVE in sentiments:
        found.add("negative")
    if nps is not None and nps >= CONTRADICTION_HIGH_NPS and Sentiment.NEGATIVE in sentiments:
        found.add("contradiction")
    if (
        nps is not None
        and nps <= CONTRADICTION_LOW_NPS
        and comments
        and all(
            c.effective_sentiment == Sentiment.POSITIVE and c.score >= CLEARLY_POSITIVE
            for c in comments
        )
    ):
        found.add("contradiction")
    return [r for r in REASON_ORDER if r in found]


def _owner_id(location_id: int) -> int | None:
    first = LocationManager.objects.filter(location_id=location_id).order_by("pk").first()
    return first.user_id if first else None


def open_ticket(
    response: Response, comments: Sequence[Comment], *, notify: bool = True
) -> Ticket | None:
    """Open (or widen) the response's single ticket if it needs one; alert after commit."""
    reasons = reasons_for(response, comments)
    if not reasons:
        return None
    today = timezone.localdate(timezone=response.location.zone)
    safety = "safety" in reasons
    due = today + timedelta(days=1 if safety else 3)
    ticket = Ticket.objects.select_for_update().filter(response=response).first()
    if ticket is None:
        ticket = Ticket.objects.create(
            response=response,
            location_id=response.location_id,
            reasons=reasons,
            priority="high" if safety else "normal",
            owner_id=_owner_id(response.location_id),
            due_date=due,
        )
        log.info("ticket %s opened for response %s: %s", ticket.pk, response.pk, reasons)
    else:
        # A second look (e.g. the web answers after an SMS score) can only add reasons.
        merged = [r for r in REASON_ORDER if r in set(ticket.reasons) | set(reasons)]
        if merged == ticket.reasons:
            return ticket
        ticket.reasons = merged
        ticket.due_date = min(ticket.due_date, due)
        if safety:
            ticket.priority = "high"
        if ticket.status == TicketStatus.RESOLVED:
            ticket.status, ticket.resolved_at = TicketStatus.OPEN, None
        ticket.save(update_fields=["reasons", "due_date", "priority", "status", "resolved_at"])
        log.info("ticket %s widened: %s", ticket.pk, merged)
    if notify:
        ticket_id = ticket.pk
        transaction.on_commit(lambda: _publish_alert(ticket_id))
    return ticket


def _publish_alert(ticket_id: int) -> None:
    from surveys.tasks import notify_ticket

    notify_ticket.delay(ticket_id)


def ticket_admin_url(ticket_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("admin:surveys_ticket_change", args=[ticket_id])


def alert_text(ticket: Ticket) -> tuple[str, str]:
    """(subject, body) of the managers' alert: ids, location and reasons only."""
    reasons = ", ".join(ticket.reasons)
    urgency = "HIGH PRIORITY " if ticket.priority == "high" else ""
    subject = f"{urgency}Survey follow-up #{ticket.pk} at {ticket.location.name} ({reasons})"
    body = "\n".join(
        [
            f"A survey response needs a call back: ticket #{ticket.pk}.",
            "",
            f"Location: {ticket.location.name}",
            f"Reasons: {reasons}",
            f"Priority: {ticket.get_priority_display()}",
            f"Due: {ticket.due_date:%Y-%m-%d}",
            f"Response id: {ticket.response_id}",
            "",
            f"Open it in the admin (staff login): {ticket_admin_url(ticket.pk)}",
            "",
            "Patient details and comments are in the admin only, never in e-mail.",
        ]
    )
    return subject, body


def notify_managers(ticket_id: int) -> int:
    """E-mail the location's alerting managers once; returns how many were e-mailed.

    SMTP errors propagate (the caller decides about retries); the ticket's notes record a
    successful alert, so a second run sends nothing.
    """
    ticket = Ticket.objects.select_related("location").get(pk=ticket_id)
    if ALERT_MARK in ticket.notes:
        return 0
    recipients = sorted(
        {
            email
            for email in LocationManager.objects.filter(
                location_id=ticket.location_id, alerts=True
            ).values_list("user__email", flat=True)
            if email
        }
    )
    if not recipients:
        return 0
    subject, body = alert_text(ticket)
    send_mail(subject, body, None, recipients, fail_silently=False)
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    line = f"{ALERT_MARK} {len(recipients)} manager(s) at {stamp}"
    ticket.notes = f"{ticket.notes}\n{line}".strip()
    Ticket.objects.filter(pk=ticket.pk).update(notes=ticket.notes)
    log.info("ticket %s alert e-mailed to %s manager(s)", ticket.pk, len(recipients))
    return len(recipients)


def unalerted_ticket_ids(max_age: timedelta = timedelta(days=2)) -> list[int]:
    """Recent open tickets whose alert has not gone out (SMTP was down), for the sweep."""
    since = timezone.now() - max_age
    settle = timezone.now() - timedelta(minutes=5)  # leave the fast path time to finish
    return list(
        Ticket.objects.filter(
            created_at__gte=since, created_at__lte=settle, location__managers__alerts=True
        )
        .exclude(status=TicketStatus.RESOLVED)
        .exclude(notes__contains=ALERT_MARK)
        .values_list("pk", flat=True)
        .distinct()
    )

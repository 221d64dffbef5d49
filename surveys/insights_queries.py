"""The managers' figures: one aggregate query per table, never a query per row.

Every function takes a `Filters` (the URL's GET parameters, parsed) and returns plain data
(dicts and lists), so the dashboard, the CSV export, the weekly report and the benchmark share
one definition of each figure. Dates are the visit's local date; periods include both ends.
`Filters`, the rows each filter selects and the pure arithmetic live in surveys.insight_filters.

Definitions (also shown on the page):
- responses: completed responses whose visit falls in the period.
- response rate: per invitation channel, invitations completed / invitations sent, by the day
  the invitation was created (an invitation "sent" has left the building: any status but
  scheduled or skipped).
- NPS: % promoters (9-10) minus % detractors (0-6) of responses with an NPS answer.
- top box: share of "Always" (value 4) among answers to each Likert item.
- confirmation rate: appointments that reached confirmed (or later: checked in, completed) over
  every non-cancelled appointment in the period; no-show rate: no-shows over non-cancelled
  appointments that have already started.

Performance: a dashboard page needs each table for two periods (now and the one before) and
in several shapes (headline, weekly, per provider, per location). Inside `request_memo()` (the
dashboard view opens one per request) those shapes share one grouped query per table covering
both periods, with conditional counts; nothing is cached across requests. The counts of
responses, Likert answers, invitations and appointments come from `surveys.insight_counts`,
which reads the daily/weekly roll-ups (`surveys.rollup`, kept by the write paths) where they
answer exactly and the raw rows otherwise; comment figures read the comment tables.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any, TypeVar

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from surveys import insight_counts as counts
from surveys.insight_counts import raw_counts  # noqa: F401 - re-exported for callers
from surveys.insight_filters import (  # noqa: F401 - re-exported for callers
    BOOKED_OR_LATER,
    CONFIRMED_OR_LATER,
    DEFAULT_DAYS,
    SENT_STATUSES,
    TOP_BOX,
    Filters,
    appointments,
    change,
    comments,
    invitations,
    nps,
    nps_ci,
    proportion_ci,
    response_q,
    responses,
    share,
    window,
)
from surveys.models import (
    STANDARD_LIKERT_CODES,
    CommentTheme,
    Question,
    QuestionKind,
    Ticket,
    TicketStatus,
)

MIN_RESPONSES = 5  # below this a comparison row shows no figure: nobody is ranked on noise
# Likert items of other surveys found in the database are shown after the standard ones.
LIKERT_CODES = STANDARD_LIKERT_CODES
NEGATIVE = Q(corrected_sentiment="negative") | Q(corrected_sentiment="", sentiment="negative")


# -- per-request memo ---------------------------------------------------------------------------

_memo: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("insights_memo", default=None)
_T = TypeVar("_T")


@contextmanager
def request_memo() -> Iterator[None]:
    """Share intermediate results between the figures of one page view (one request).

    Outside this block every call queries afresh; the memo dies with the block, so nothing is
    ever served from an earlier request."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _memoised(fn: Callable[..., _T]) -> Callable[..., _T]:
    @functools.wraps(fn)
    def wrapped(*args: Any) -> _T:
        memo = _memo.get()
        if memo is None:
            return fn(*args)
        key = (fn.__name__, *args)
        if key not in memo:
            memo[key] = fn(*args)
        return memo[key]

    return wrapped


# -- figures ------------------------------------------------------------------------------------

_NPS_COUNTS = {
    "nps_n": Count("id", filter=Q(nps__isnull=False)),
    "promoters": Count("id", filter=Q(nps__gte=9)),
    "detractors": Count("id", filter=Q(nps__lte=6)),
}
_NPS_KEYS = counts.NPS_KEYS


def nps_counts(f: Filters) -> dict[str, int]:
    """Responses, NPS answers, promoters and detractors from the raw rows: one query."""
    return responses(f).aggregate(responses=Count("id"), **_NPS_COUNTS)


@_memoised
def _response_groups(f: Filters) -> list[dict[str, Any]]:
    """NPS counts of this period and the previous one by (period, ISO week) and by (period,
    provider, location): one query from which the headline (both periods), the weekly trend and
    the provider and location comparisons are all summed."""
    return counts.response_groups(f)


def _sum_nps(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {k: sum(r[k] for r in rows) for k in _NPS_KEYS}


def _period_nps(f: Filters) -> dict[bool, dict[str, int]]:
    """{True: this period's counts, False: the previous period's}."""
    rows = [r for r in _response_groups(f) if r["week"] is not None]
    return {cur: _sum_nps([r for r in rows if bool(r["current"]) is cur]) for cur in (True, False)}


@_memoised
def _channel_groups(f: Filters) -> list[dict[str, Any]]:
    """Invitations sent and completed per channel, this period and the previous: one query."""
    return counts.channel_groups(f)


def _rates(rows: list[dict[str, Any]], prefix: str = "") -> list[dict[str, Any]]:
    return [
        {
            "channel": r["channel"] or "unknown",
            "sent": r[f"{prefix}sent"],
            "completed": r[f"{prefix}completed"],
            "rate": share(r[f"{prefix}completed"], r[f"{prefix}sent"]),
        }
        for r in rows
        if r[f"{prefix}sent"]
    ]


def channel_rates(f: Filters) -> list[dict[str, Any]]:
    """Invitations sent and completed per channel."""
    return _rates(_channel_groups(f))


@_memoised
def likert_codes() -> list[str]:
    found = set(Question.objects.filter(kind=QuestionKind.LIKERT).values_list("code", flat=True))
    return [c for c in LIKERT_CODES if c in found or not found] + sorted(found - set(LIKERT_CODES))


@_memoised
def top_box(f: Filters) -> list[dict[str, Any]]:
    """Per Likert item: answers, "Always" answers and their share (counts from the roll-up,
    or from the answers when a non-standard item is on the page)."""
    codes = likert_codes()
    rows = counts.likert_counts(f, codes)
    by_code = {r["code"]: r for r in rows}
    order = {c: i for i, c in enumerate(codes)}
    return [
        {**r, "share": share(r["top"], r["n"])}
        for r in sorted(by_code.values(), key=lambda r: order.get(r["code"], 99))
    ]


def comment_counts(f: Filters) -> dict[str, int]:
    return comments(f).aggregate(comments=Count("id"), negative=Count("id", filter=NEGATIVE))


@_memoised
def _comment_periods(f: Filters) -> dict[bool, dict[str, int]]:
    now, before = Q(visit_date__gte=f.start), Q(visit_date__lt=f.start)
    c = comments(counts.span(f)).aggregate(
        comments=Count("id", filter=now),
        negative=Count("id", filter=now & NEGATIVE),
        before_comments=Count("id", filter=before),
        before_negative=Count("id", filter=before & NEGATIVE),
    )
    return {
        True: {"comments": c["comments"], "negative": c["negative"]},
        False: {"comments": c["before_comments"], "negative": c["before_negative"]},
    }


def appointment_counts(f: Filters, now: datetime | None = None) -> dict[str, int]:
    """Appointment counts of one period from the raw rows."""
    return appointments(f).aggregate(**counts.appointment_aggregates(now or timezone.now()))


@_memoised
def _appointment_periods(f: Filters) -> dict[bool, dict[str, int]]:
    """Appointment counts of this period and the previous: one or two queries."""
    return counts.appointment_periods(f)


def ticket_queue(f: Filters) -> QuerySet[Ticket]:
    """Unresolved tickets (any age: a ticket does not stop mattering when the period ends)."""
    qs = Ticket.objects.exclude(status=TicketStatus.RESOLVED).order_by("due_date", "pk")
    if f.location:
        qs = qs.filter(location_id=f.location)
    if f.provider:
        qs = qs.filter(response__provider_id=f.provider)
    return qs


def ticket_counts(f: Filters, today: date | None = None) -> dict[str, int]:
    today = today or timezone.localdate()
    return ticket_queue(f).aggregate(
        open=Count("id"), overdue=Count("id", filter=Q(due_date__lt=today))
    )


def _headline(
    counts: dict[str, int],
    channels: list[dict[str, Any]],
    cc: dict[str, int],
    ac: dict[str, int],
) -> dict[str, Any]:
    sent = sum(c["sent"] for c in channels)
    completed = sum(c["completed"] for c in channels)
    return {
        **counts,
        "nps": nps(counts["promoters"], counts["detractors"], counts["nps_n"]),
        "sent": sent,
        "completed": completed,
        "response_rate": share(completed, sent),
        **cc,
        "negative_share": share(cc["negative"], cc["comments"]),
        **ac,
        "confirmation_rate": share(ac["confirmed"], ac["booked"]),
        "no_show_rate": share(ac["no_show"], ac["past"]),
    }


@_memoised
def _headlines(f: Filters) -> dict[bool, dict[str, Any]]:
    """{True: this period's headline figures, False: the previous period's}: four queries."""
    counts, channels = _period_nps(f), _channel_groups(f)
    cc, ac = _comment_periods(f), _appointment_periods(f)
    rates = {True: _rates(channels), False: _rates(channels, "before_")}
    return {cur: _headline(counts[cur], rates[cur], cc[cur], ac[cur]) for cur in (True, False)}


def headline(f: Filters) -> dict[str, Any]:
    """The figures of one period, raw counts included (sample sizes)."""
    return _headlines(f)[True]


HEADLINE_FIGURES = (
    # key, label, sample-size key, unit
    ("responses", "Responses", "responses", ""),
    ("response_rate", "Response rate", "sent", "%"),
    ("nps", "NPS", "nps_n", ""),
    ("negative_share", "Negative comments", "comments", "%"),
    ("confirmation_rate", "Confirmation rate", "booked", "%"),
    ("no_show_rate", "No-show rate", "past", "%"),
)


def headline_cards(f: Filters) -> list[dict[str, Any]]:
    """Each headline figure with its sample size and the change against the previous period."""
    both = _headlines(f)
    now, before = both[True], both[False]
    return [
        {
            "key": key,
            "label": label,
            "value": now[key],
            "n": now[n_key],
            "unit": unit,
            "previous": before[key],
            "change": change(now[key], before[key]),
        }
        for key, label, n_key, unit in HEADLINE_FIGURES
    ]


@_memoised
def theme_sentiment(f: Filters) -> list[dict[str, Any]]:
    """Comment themes by sentiment: [{theme, positive, neutral, mixed, negative, total}]."""
    qs = CommentTheme.objects.filter(visit_date__range=(f.start, f.end)).order_by()
    if f.location or f.provider or f.appointment_type or f.channel:
        qs = qs.filter(comment__in=comments(f).values("id"))
    table: dict[str, dict[str, Any]] = {}
    for row in qs.values("theme", "sentiment").annotate(n=Count("id")):
        entry = table.setdefault(
            row["theme"],
            {"theme": row["theme"], "positive": 0, "neutral": 0, "mixed": 0, "negative": 0},
        )
        entry[row["sentiment"]] = entry.get(row["sentiment"], 0) + row["n"]
    out = []
    for entry in table.values():
        entry["total"] = sum(entry[s] for s in ("positive", "neutral", "mixed", "negative"))
        out.append(entry)
    return sorted(out, key=lambda e: -e["total"])


def _current_rows(f: Filters, by: str) -> list[dict[str, Any]]:
    """This period's group rows of one grouping: by "week", or by "provider"/"location"."""
    return [r for r in _response_groups(f) if r["current"] and r[by] is not None]


def weekly(f: Filters) -> list[dict[str, Any]]:
    """Responses and NPS per ISO week (Monday-start), oldest first."""
    by_week: dict[date, list[dict[str, Any]]] = {}
    for r in _current_rows(f, "week"):
        monday = r["week"].date() if isinstance(r["week"], datetime) else r["week"]
        by_week.setdefault(monday, []).append(r)
    out = []
    for monday in sorted(by_week):
        c = _sum_nps(by_week[monday])
        year, week, _ = monday.isocalendar()
        out.append(
            {
                "week": f"{year}-W{week:02d}",
                "monday": monday,
                "responses": c["responses"],
                "nps_n": c["nps_n"],
                "nps": nps(c["promoters"], c["detractors"], c["nps_n"]),
            }
        )
    return out


def comparison(f: Filters, by: str) -> list[dict[str, Any]]:
    """NPS and top box per provider or location, with 95% intervals; hidden below 5 answers."""
    from scheduling.models import Location, Provider

    model = {"provider": Provider, "location": Location}[by]
    groups: dict[int, list[dict[str, Any]]] = {}
    for r in _current_rows(f, by):
        groups.setdefault(r[by], []).append(r)
    rows = [{by: key, **_sum_nps(part)} for key, part in groups.items()]
    names = {obj.pk: str(obj) for obj in model.objects.filter(pk__in=list(groups))}
    out = []
    for r in rows:
        shown = r["nps_n"] >= MIN_RESPONSES
        out.append(
            {
                "id": r[by],
                "name": names.get(r[by], f"#{r[by]}"),
                "responses": r["responses"],
                "nps_n": r["nps_n"],
                "shown": shown,
                "nps": nps(r["promoters"], r["detractors"], r["nps_n"]) if shown else None,
                "ci": nps_ci(r["promoters"], r["detractors"], r["nps_n"]) if shown else None,
            }
        )
    return sorted(out, key=lambda r: (not r["shown"], -(r["nps"] or 0), r["name"]))

"""The managers' figures: one aggregate query per table, never a query per row.

Every function takes a `Filters` (the URL's GET parameters, parsed) and returns plain data
(dicts and lists), so the dashboard, the CSV export, the weekly report and the benchmark share
one definition of each figure. Dates are the visit's local date; periods include both ends.

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
both periods, with conditional counts; nothing is cached across requests.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from django.db.models import BooleanField, Case, Count, Model, Q, QuerySet, Value, When
from django.db.models.functions import TruncWeek
from django.http import QueryDict
from django.utils import timezone

from scheduling.models import Appointment, AppointmentStatus
from surveys.models import (
    Answer,
    Comment,
    CommentTheme,
    Invitation,
    InvitationStatus,
    Question,
    QuestionKind,
    Response,
    Ticket,
    TicketStatus,
)

DEFAULT_DAYS = 90
MIN_RESPONSES = 5  # below this a comparison row shows no figure: nobody is ranked on noise
TOP_BOX = 4  # Likert "Always"
# The standard survey's Likert items (migration 0002_standard_survey), in display order; Likert
# items of other surveys found in the database are shown after them.
LIKERT_CODES = (
    "explained",
    "listened",
    "respect",
    "enough_time",
    "staff_helpful",
    "appointment_soon",
)
SENT_STATUSES = (
    InvitationStatus.SENT,
    InvitationStatus.OPENED,
    InvitationStatus.PARTIAL,
    InvitationStatus.COMPLETED,
    InvitationStatus.EXPIRED,
)
BOOKED_OR_LATER = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.COMPLETED,
    AppointmentStatus.NO_SHOW,
)
CONFIRMED_OR_LATER = (
    AppointmentStatus.CONFIRMED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.COMPLETED,
)
NEGATIVE = Q(corrected_sentiment="negative") | Q(corrected_sentiment="", sentiment="negative")


@dataclass(frozen=True)
class Filters:
    """What the manager is looking at. `start`/`end` are local dates, both included."""

    start: date
    end: date
    location: int | None = None
    provider: int | None = None
    appointment_type: int | None = None
    channel: str = ""

    @classmethod
    def from_query(cls, params: QueryDict | dict[str, str], today: date | None = None) -> Filters:
        """Parse GET parameters; anything malformed falls back to the default (last 90 days)."""
        today = today or timezone.localdate()
        end = _date(params.get("end")) or today
        start = _date(params.get("start")) or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            start, end = end, start
        return cls(
            start=start,
            end=end,
            location=_int(params.get("location")),
            provider=_int(params.get("provider")),
            appointment_type=_int(params.get("appointment_type")),
            channel=(params.get("channel") or "")[:10],
        )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of equal length just before this one, same other filters."""
        return replace(
            self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1)
        )

    def as_query(self) -> dict[str, str]:
        """GET parameters that reproduce these filters (for links and exports)."""
        out = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        for key in ("location", "provider", "appointment_type", "channel"):
            value = getattr(self, key)
            if value:
                out[key] = str(value)
        return out


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _window(f: Filters) -> tuple[datetime, datetime]:
    """The period as aware datetimes [start 00:00, day after end 00:00) in the current zone."""
    zone = timezone.get_current_timezone()
    return (
        datetime.combine(f.start, time.min, tzinfo=zone),
        datetime.combine(f.end + timedelta(days=1), time.min, tzinfo=zone),
    )


# -- querysets --------------------------------------------------------------------------------


def _response_q(f: Filters, prefix: str = "") -> Q:
    """Completed responses in the period on the denormalised (indexed) columns; `prefix` is
    the path to the response ("response__" from an answer) so the filter works through a join."""
    cond = Q(
        **{f"{prefix}visit_date__range": (f.start, f.end), f"{prefix}completed_at__isnull": False}
    )
    for key, value in (
        ("location_id", f.location),
        ("provider_id", f.provider),
        ("appointment_type_id", f.appointment_type),
        ("invite_channel", f.channel),
    ):
        if value:
            cond &= Q(**{f"{prefix}{key}": value})
    return cond


def responses(f: Filters) -> QuerySet[Response]:
    """Completed responses in the period, filtered on the denormalised (indexed) columns."""
    return Response.objects.filter(_response_q(f)).order_by()


_M = TypeVar("_M", bound=Model)


def _filtered(qs: QuerySet[_M], f: Filters, **paths: str) -> QuerySet[_M]:
    """`qs` narrowed by each filter that is set; `paths` maps a filter's name (location,
    provider, appointment_type, channel) to the field path that holds it on this model."""
    for name, path in paths.items():
        value = getattr(f, name)
        if value:
            qs = qs.filter(**{path: value})
    return qs


def comments(f: Filters) -> QuerySet[Comment]:
    qs = Comment.objects.filter(visit_date__range=(f.start, f.end)).order_by()
    # Type and channel live on the response only: joined just when asked.
    return _filtered(
        qs,
        f,
        location="location_id",
        provider="provider_id",
        appointment_type="response__appointment_type_id",
        channel="response__invite_channel",
    )


def invitations(f: Filters) -> QuerySet[Invitation]:
    low, high = _window(f)
    qs = Invitation.objects.filter(created_at__gte=low, created_at__lt=high).order_by()
    return _filtered(
        qs,
        f,
        location="appointment__location_id",
        provider="appointment__provider_id",
        appointment_type="appointment__appointment_type_id",
        channel="channel",
    )


def appointments(f: Filters) -> QuerySet[Appointment]:
    low, high = _window(f)
    qs = Appointment.objects.filter(start__gte=low, start__lt=high).order_by()
    return _filtered(
        qs,
        f,
        location="location_id",
        provider="provider_id",
        appointment_type="appointment_type_id",
    )


# -- arithmetic (pure) --------------------------------------------------------------------------


def share(part: int, whole: int) -> float | None:
    """Percentage 0-100, or None when there is nothing to divide by."""
    return 100.0 * part / whole if whole else None


def nps(promoters: int, detractors: int, n: int) -> float | None:
    """Net Promoter Score in points (-100..100), None without answers."""
    return 100.0 * (promoters - detractors) / n if n else None


def nps_ci(promoters: int, detractors: int, n: int) -> float | None:
    """Half-width of the 95% interval of the NPS, in points (normal approximation)."""
    if not n:
        return None
    p_pro, p_det = promoters / n, detractors / n
    variance = (p_pro + p_det - (p_pro - p_det) ** 2) / n
    return 100.0 * 1.96 * math.sqrt(max(variance, 0.0))


def proportion_ci(part: int, n: int) -> float | None:
    """Half-width of the 95% Wald interval of a share, in percentage points."""
    if not n:
        return None
    p = part / n
    return 100.0 * 1.96 * math.sqrt(p * (1 - p) / n)


def change(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


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


def _span(f: Filters) -> Filters:
    """The previous period and this one together."""
    return replace(f, start=f.previous().start)


# -- figures ------------------------------------------------------------------------------------

_NPS_COUNTS = {
    "nps_n": Count("id", filter=Q(nps__isnull=False)),
    "promoters": Count("id", filter=Q(nps__gte=9)),
    "detractors": Count("id", filter=Q(nps__lte=6)),
}
_NPS_KEYS = ("responses", "nps_n", "promoters", "detractors")


def nps_counts(f: Filters) -> dict[str, int]:
    """Responses, NPS answers, promoters and detractors: one query."""
    return responses(f).aggregate(responses=Count("id"), **_NPS_COUNTS)


@_memoised
def _response_groups(f: Filters) -> list[dict[str, Any]]:
    """NPS counts of this period and the previous one grouped by (period, ISO week, provider,
    location): one query from which the headline (both periods), the weekly trend and the
    provider and location comparisons are all summed."""
    rows = (
        responses(_span(f))
        .annotate(
            current=Case(
                When(visit_date__gte=f.start, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            week=TruncWeek("visit_date"),
        )
        .values("current", "week", "provider", "location")
        .annotate(responses=Count("id"), **_NPS_COUNTS)
        .order_by()
    )
    return list(rows)


def _sum_nps(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {k: sum(r[k] for r in rows) for k in _NPS_KEYS}


def _period_nps(f: Filters) -> dict[bool, dict[str, int]]:
    """{True: this period's counts, False: the previous period's}."""
    rows = _response_groups(f)
    return {cur: _sum_nps([r for r in rows if bool(r["current"]) is cur]) for cur in (True, False)}


@_memoised
def _channel_groups(f: Filters) -> list[dict[str, Any]]:
    """Invitations sent and completed per channel, this period and the previous: one query."""
    mid = _window(f)[0]
    now, before = Q(created_at__gte=mid), Q(created_at__lt=mid)
    sent, done = Q(status__in=SENT_STATUSES), Q(status=InvitationStatus.COMPLETED)
    return list(
        invitations(_span(f))
        .values("channel")
        .annotate(
            sent=Count("id", filter=now & sent),
            completed=Count("id", filter=now & done),
            before_sent=Count("id", filter=before & sent),
            before_completed=Count("id", filter=before & done),
        )
        .order_by("channel")
    )


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
    """Per Likert item: answers, "Always" answers and their share.

    Answers are joined to their response and filtered on its denormalised columns (no
    `IN (subquery)`); the covering index on (response, code, value_int) serves the join."""
    codes = likert_codes()
    rows = (
        Answer.objects.filter(
            _response_q(f, prefix="response__"), code__in=codes, value_int__isnull=False
        )
        .values("code")
        .annotate(n=Count("id"), top=Count("id", filter=Q(value_int=TOP_BOX)))
        .order_by()
    )
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
    c = comments(_span(f)).aggregate(
        comments=Count("id", filter=now),
        negative=Count("id", filter=now & NEGATIVE),
        before_comments=Count("id", filter=before),
        before_negative=Count("id", filter=before & NEGATIVE),
    )
    return {
        True: {"comments": c["comments"], "negative": c["negative"]},
        False: {"comments": c["before_comments"], "negative": c["before_negative"]},
    }


def _appointment_aggregates(
    now: datetime, prefix: str = "", period: Q | None = None
) -> dict[str, Count]:
    period = period or Q()
    return {
        f"{prefix}booked": Count("id", filter=period & Q(status__in=BOOKED_OR_LATER)),
        f"{prefix}confirmed": Count("id", filter=period & Q(status__in=CONFIRMED_OR_LATER)),
        f"{prefix}past": Count("id", filter=period & Q(status__in=BOOKED_OR_LATER, start__lt=now)),
        f"{prefix}no_show": Count(
            "id", filter=period & Q(status=AppointmentStatus.NO_SHOW, start__lt=now)
        ),
    }


def appointment_counts(f: Filters, now: datetime | None = None) -> dict[str, int]:
    return appointments(f).aggregate(**_appointment_aggregates(now or timezone.now()))


@_memoised
def _appointment_periods(f: Filters) -> dict[bool, dict[str, int]]:
    """Appointment counts of this period and the previous: one query."""
    now, mid = timezone.now(), _window(f)[0]
    c = appointments(_span(f)).aggregate(
        **_appointment_aggregates(now, "", Q(start__gte=mid)),
        **_appointment_aggregates(now, "before_", Q(start__lt=mid)),
    )
    keys = ("booked", "confirmed", "past", "no_show")
    return {True: {k: c[k] for k in keys}, False: {k: c[f"before_{k}"] for k in keys}}


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


def _current_rows(f: Filters) -> list[dict[str, Any]]:
    return [r for r in _response_groups(f) if r["current"]]


def weekly(f: Filters) -> list[dict[str, Any]]:
    """Responses and NPS per ISO week (Monday-start), oldest first."""
    by_week: dict[date, list[dict[str, Any]]] = {}
    for r in _current_rows(f):
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
    for r in _current_rows(f):
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

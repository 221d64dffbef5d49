"""The dashboard's counts: from the roll-ups where they answer exactly, else from the raw rows.

Each function returns the same rows whichever source served it, so every figure in
`surveys.insights_queries` has one definition. The roll-ups (`surveys.rollup`) are keyed by
every filter the page has (location, provider, visit type, invitation channel), so a period is
read as its whole ISO weeks (week rows) plus the days at either end (day rows).

The raw rows are read instead:
- inside `raw_counts()` (tests comparing both sources);
- for the top box when a Likert item outside STANDARD_LIKERT_CODES is on the page;
- for invitations and appointments when the current time zone is not the default one (their
  roll-up days are days in the default zone);
- for appointments from today on: whether a visit has started yet changes during the day.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncWeek
from django.utils import timezone

from scheduling.models import AppointmentStatus
from surveys.insight_filters import (
    BOOKED_OR_LATER,
    CONFIRMED_OR_LATER,
    SENT_STATUSES,
    TOP_BOX,
    Filters,
    appointments,
    invitations,
    response_q,
    responses,
    window,
)
from surveys.models import (
    STANDARD_LIKERT_CODES,
    Answer,
    AppointmentRollup,
    InvitationRollup,
    InvitationStatus,
    ResponseRollup,
)

_use_rollups: ContextVar[bool] = ContextVar("insight_rollups", default=True)


@contextmanager
def raw_counts() -> Iterator[None]:
    """Inside this block every count is read from the raw rows (to compare the two sources)."""
    token = _use_rollups.set(False)
    try:
        yield
    finally:
        _use_rollups.reset(token)


def _default_zone() -> bool:
    return timezone.get_current_timezone_name() == timezone.get_default_timezone_name()


def span(f: Filters) -> Filters:
    """The previous period and this one together."""
    return replace(f, start=f.previous().start)


# -- selecting roll-up rows -------------------------------------------------------------------


def _days_q(start: date, end: date) -> Q:
    """Roll-up rows covering exactly [start, end]: week rows for the whole ISO weeks inside,
    day rows for the rest."""
    first = start + timedelta(days=-start.weekday() % 7)  # first Monday on or after start
    last = end - timedelta(days=6)
    last -= timedelta(days=last.weekday())  # Monday of the last week ending on or before end
    if first > last:
        return Q(span=1, day__range=(start, end))
    cond = Q(span=7, day__range=(first, last))
    if start < first:
        cond |= Q(span=1, day__range=(start, first - timedelta(days=1)))
    if last + timedelta(days=6) < end:
        cond |= Q(span=1, day__range=(last + timedelta(days=7), end))
    return cond


def _periods_q(f: Filters, last: date | None = None) -> Q | None:
    """Both periods (each split on its own, so no week row straddles them), up to `last`."""
    parts = []
    for lo, hi in ((f.previous().start, f.previous().end), (f.start, f.end)):
        hi = hi if last is None else min(hi, last)
        if lo <= hi:
            parts.append(_days_q(lo, hi))
    return functools.reduce(operator.or_, parts) if parts else None


def _key_q(f: Filters, channel: bool = True) -> Q:
    cond = Q()
    for key, value in (
        ("location_id", f.location),
        ("provider_id", f.provider),
        ("appointment_type_id", f.appointment_type),
        ("channel", f.channel if channel else ""),
    ):
        if value:
            cond &= Q(**{key: value})
    return cond


def _current(field: str, f: Filters) -> Case:
    return Case(
        When(**{f"{field}__gte": f.start}, then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


# -- responses ----------------------------------------------------------------------------------

NPS_KEYS = ("responses", "nps_n", "promoters", "detractors")
_NPS_COUNTS = {
    "nps_n": Count("id", filter=Q(nps__isnull=False)),
    "promoters": Count("id", filter=Q(nps__gte=9)),
    "detractors": Count("id", filter=Q(nps__lte=6)),
}


GROUP_KEYS = ("current", "week", "provider", "location")


def response_groups(f: Filters) -> list[dict[str, Any]]:
    """NPS counts of this period and the previous one, in one query (a UNION of two groupings):
    per (current, ISO week Monday) with provider and location None, and per (current,
    provider, location) with week None. The headline and the weekly trend sum the first rows,
    the provider and location comparisons the second: a few hundred rows for any period."""
    if _use_rollups.get():
        qs = ResponseRollup.objects.filter(_periods_q(f), _key_q(f))
        field, sums = "day", [Sum(k) for k in NPS_KEYS]
    else:
        qs = responses(span(f))
        field, sums = "visit_date", [Count("id"), *_NPS_COUNTS.values()]
    aliases = {f"n{i}": agg for i, agg in enumerate(sums)}  # never a column's name
    none_day, none_id = Value(None, output_field=DateField()), Value(None, IntegerField())
    qs = qs.annotate(g_current=_current(field, f))
    by_week = qs.annotate(g_week=TruncWeek(field), g_provider=none_id, g_location=none_id)
    by_who = qs.annotate(g_week=none_day, g_provider=F("provider"), g_location=F("location"))
    names = [f"g_{k}" for k in GROUP_KEYS]
    parts = [p.values_list(*names).annotate(**aliases).order_by() for p in (by_week, by_who)]
    return [
        {**dict(zip(GROUP_KEYS, row[:4], strict=True)), **dict(zip(NPS_KEYS, row[4:], strict=True))}
        for row in parts[0].union(parts[1], all=True)
    ]


def likert_counts(f: Filters, codes: list[str]) -> list[dict[str, Any]]:
    """Per Likert item with answers in the period: {code, n (answers), top ("Always")}."""
    if _use_rollups.get() and set(codes) <= set(STANDARD_LIKERT_CODES):
        sums = {}
        for c in codes:
            sums[f"n_{c}"], sums[f"top_{c}"] = Sum(f"{c}_n"), Sum(f"{c}_top")
        qs = ResponseRollup.objects.filter(_days_q(f.start, f.end), _key_q(f))
        totals = qs.aggregate(**sums)
        rows = [
            {"code": c, "n": totals[f"n_{c}"] or 0, "top": totals[f"top_{c}"] or 0} for c in codes
        ]
        return [r for r in rows if r["n"]]
    # Answers joined to their response, filtered on its denormalised columns (no
    # `IN (subquery)`); the covering index on (response, code, value_int) serves the join.
    return list(
        Answer.objects.filter(
            response_q(f, prefix="response__"), code__in=codes, value_int__isnull=False
        )
        .values("code")
        .annotate(n=Count("id"), top=Count("id", filter=Q(value_int=TOP_BOX)))
        .order_by()
    )


# -- invitations --------------------------------------------------------------------------------


def channel_groups(f: Filters) -> list[dict[str, Any]]:
    """Invitations sent and completed per channel, this period and the previous: one query."""
    if _use_rollups.get() and _default_zone():
        now, before = Q(day__gte=f.start), Q(day__lt=f.start)
        rows = (
            InvitationRollup.objects.filter(_periods_q(f), _key_q(f))
            .values("channel")
            .annotate(
                # Aliases unlike the columns: an alias named "sent" would shadow the column.
                now_sent=Sum("sent", filter=now),
                now_completed=Sum("completed", filter=now),
                was_sent=Sum("sent", filter=before),
                was_completed=Sum("completed", filter=before),
            )
            .order_by("channel")
        )
        return [
            {"channel": r["channel"], "sent": r["now_sent"] or 0,
             "completed": r["now_completed"] or 0, "before_sent": r["was_sent"] or 0,
             "before_completed": r["was_completed"] or 0}
            for r in rows
        ]  # fmt: skip
    mid = window(f)[0]
    now, before = Q(created_at__gte=mid), Q(created_at__lt=mid)
    sent, done = Q(status__in=SENT_STATUSES), Q(status=InvitationStatus.COMPLETED)
    return list(
        invitations(span(f))
        .values("channel")
        .annotate(
            sent=Count("id", filter=now & sent),
            completed=Count("id", filter=now & done),
            before_sent=Count("id", filter=before & sent),
            before_completed=Count("id", filter=before & done),
        )
        .order_by("channel")
    )


# -- appointments -------------------------------------------------------------------------------

APPOINTMENT_KEYS = ("booked", "confirmed", "past", "no_show")


def appointment_aggregates(now: datetime, prefix: str = "", period: Q | None = None) -> dict:
    period = period or Q()
    return {
        f"{prefix}booked": Count("id", filter=period & Q(status__in=BOOKED_OR_LATER)),
        f"{prefix}confirmed": Count("id", filter=period & Q(status__in=CONFIRMED_OR_LATER)),
        f"{prefix}past": Count("id", filter=period & Q(status__in=BOOKED_OR_LATER, start__lt=now)),
        f"{prefix}no_show": Count(
            "id", filter=period & Q(status=AppointmentStatus.NO_SHOW, start__lt=now)
        ),
    }


def appointment_periods(f: Filters) -> dict[bool, dict[str, int]]:
    """Appointment counts of this period and the previous, {True: now, False: before}: one
    query (the roll-up's days before today and the raw rows from today on, as a UNION)."""
    now, mid = timezone.now(), window(f)[0]
    cols = [f"{p}_{k}" for p in ("now", "was") for k in APPOINTMENT_KEYS]
    parts = []
    raw_from = span(f)
    if _use_rollups.get() and _default_zone():
        # Days before today: every visit has started, so "past" is every booked one.
        today = timezone.localdate()
        cond = _periods_q(f, last=today - timedelta(days=1))
        if cond is not None:
            sums = {}
            for prefix, period in (("now", Q(day__gte=f.start)), ("was", Q(day__lt=f.start))):
                for key in APPOINTMENT_KEYS:
                    column = "booked" if key == "past" else key
                    sums[f"{prefix}_{key}"] = Sum(column, filter=period)
            rolled = AppointmentRollup.objects.filter(cond, _key_q(f, channel=False))
            parts.append(rolled.annotate(one=Value(1)).values("one").annotate(**sums))
        raw_from = replace(raw_from, start=max(raw_from.start, today))
    if raw_from.start <= raw_from.end:
        raw = appointments(raw_from).annotate(one=Value(1)).values("one")
        parts.append(
            raw.annotate(
                **appointment_aggregates(now, "now_", Q(start__gte=mid)),
                **appointment_aggregates(now, "was_", Q(start__lt=mid)),
            )
        )
    totals = {cur: dict.fromkeys(APPOINTMENT_KEYS, 0) for cur in (True, False)}
    if not parts:
        return totals
    rows = [p.values_list(*cols) for p in parts]
    for row in rows[0].union(*rows[1:], all=True) if len(rows) > 1 else rows[0]:
        for column, value in zip(cols, row, strict=True):
            totals[column.startswith("now")][column[4:]] += value or 0
    return totals

"""The dashboard's roll-ups: counts per (day or ISO week, key), always recomputed from raw rows.

A change never increments a count. It recomputes, from the raw rows, every roll-up row of its
provider in the ISO week it falls in (the seven day rows and the week row) and replaces them,
after taking a transaction-scoped lock on (table, week, provider). On PostgreSQL (READ
COMMITTED) the counting statement runs after the lock is granted, so it sees every transaction
that held the lock before: two concurrent changes cannot both count from a stale snapshot, and
a retry, a repeated signal or a resubmission only recomputes the same figures again.

`refresh` is called by the receivers in `surveys.rollup_signals` inside the writer's
transaction; `rebuild` recomputes every provider of every week in a range (management command
`rebuild_rollups`, Celery task `surveys.tasks.rebuild_rollups`, migration 0005).

Keys: responses by visit date (the location's local date, copied on the response); invitations
by the local date (default time zone) they were created; appointments by the local date (default
time zone) they start. Rows whose counts are all zero are not stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps as global_apps
from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from surveys.insight_filters import (
    BOOKED_OR_LATER,
    CONFIRMED_OR_LATER,
    SENT_STATUSES,
    TOP_BOX,
)
from surveys.models import STANDARD_LIKERT_CODES

RESPONSES, INVITATIONS, APPOINTMENTS = "responses", "invitations", "appointments"
FACTS = (RESPONSES, INVITATIONS, APPOINTMENTS)
_LOCK_CLASS = {RESPONSES: 73001, INVITATIONS: 73002, APPOINTMENTS: 73003}
_KEY = ("location_id", "provider_id", "appointment_type_id")
Key = tuple[Any, ...]  # (day, location, provider, type[, channel])


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def local_day(moment: datetime) -> date:
    """The date of an aware datetime in the default time zone (invitation and appointment days)."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _bounds(lo: date, hi: date) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    return (
        datetime.combine(lo, time.min, tzinfo=zone),
        datetime.combine(hi + timedelta(days=1), time.min, tzinfo=zone),
    )


def _model(apps: Any, name: str) -> Any:
    app = "scheduling" if name in ("Appointment", "Provider") else "surveys"
    return apps.get_model(app, name)


# -- counting the raw rows: {key: {column: count}} ----------------------------------------------


def _response_counts(apps: Any, lo: date, hi: date, provider: int | None) -> dict[Key, dict]:
    cond: dict[str, Any] = {"completed_at__isnull": False, "visit_date__range": (lo, hi)}
    if provider is not None:
        cond["provider_id"] = provider
    out: dict[Key, dict[str, int]] = {}
    rows = (
        _model(apps, "Response")
        .objects.filter(**cond)
        .values_list("visit_date", *_KEY, "invite_channel")
        .annotate(
            responses=Count("id"),
            nps_n=Count("id", filter=Q(nps__isnull=False)),
            promoters=Count("id", filter=Q(nps__gte=9)),
            passives=Count("id", filter=Q(nps__gte=7, nps__lte=8)),
            detractors=Count("id", filter=Q(nps__lte=6)),
        )
        .order_by()
    )
    for *key, responses, nps_n, promoters, passives, detractors in rows:
        out[tuple(key)] = {"responses": responses, "nps_n": nps_n, "promoters": promoters,
                           "passives": passives, "detractors": detractors}  # fmt: skip
    via = "response__"
    answers = (
        _model(apps, "Answer")
        .objects.filter(
            **{via + k: v for k, v in cond.items()},
            code__in=STANDARD_LIKERT_CODES,
            value_int__isnull=False,
        )
        .values_list(f"{via}visit_date", *(via + k for k in _KEY), f"{via}invite_channel", "code")
        .annotate(n=Count("id"), top=Count("id", filter=Q(value_int=TOP_BOX)))
        .order_by()
    )
    for *key, code, n, top in answers:
        counts = out[tuple(key)]  # an answer of a completed response: its key is there
        counts[f"{code}_n"], counts[f"{code}_top"] = n, top
    return out


def _invitation_counts(apps: Any, lo: date, hi: date, provider: int | None) -> dict[Key, dict]:
    low, high = _bounds(lo, hi)
    qs = _model(apps, "Invitation").objects.filter(created_at__gte=low, created_at__lt=high)
    if provider is not None:
        qs = qs.filter(appointment__provider_id=provider)
    rows = (
        qs.annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values_list("day", *("appointment__" + k for k in _KEY), "channel")
        .annotate(
            sent=Count("id", filter=Q(status__in=SENT_STATUSES)),
            completed=Count("id", filter=Q(status="completed")),
        )
        .order_by()
    )
    return {tuple(key): {"sent": s, "completed": c} for *key, s, c in rows if s or c}


def _appointment_counts(apps: Any, lo: date, hi: date, provider: int | None) -> dict[Key, dict]:
    low, high = _bounds(lo, hi)
    qs = _model(apps, "Appointment").objects.filter(start__gte=low, start__lt=high)
    if provider is not None:
        qs = qs.filter(provider_id=provider)
    rows = (
        qs.annotate(day=TruncDate("start", tzinfo=timezone.get_default_timezone()))
        .values_list("day", *_KEY)
        .annotate(
            booked=Count("id", filter=Q(status__in=BOOKED_OR_LATER)),
            confirmed=Count("id", filter=Q(status__in=CONFIRMED_OR_LATER)),
            no_show=Count("id", filter=Q(status="no_show")),
        )
        .order_by()
    )
    return {
        tuple(key): {"booked": b, "confirmed": c, "no_show": n}
        for *key, b, c, n in rows
        if b or c or n
    }


_COUNTERS = {
    RESPONSES: (_response_counts, "ResponseRollup"),
    INVITATIONS: (_invitation_counts, "InvitationRollup"),
    APPOINTMENTS: (_appointment_counts, "AppointmentRollup"),
}


# -- replacing roll-up rows -------------------------------------------------------------------


def _lock(fact: str, week: date, providers: Iterable[int]) -> None:
    """Serialise recomputations of (fact, week, provider) until the transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite: one writer at a time already
    keys = sorted({((week.toordinal() // 7) % 2048) << 20 | (p % (1 << 20)) for p in providers})
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT unnest(%s::int[]) AS k ORDER BY 1) s",
            [_LOCK_CLASS[fact], keys],
        )


def _replace(apps: Any, fact: str, week: date, provider: int | None) -> int:
    """Recompute one week (one provider's rows, or all) of one roll-up; returns rows written."""
    count, model_name = _COUNTERS[fact]
    model = _model(apps, model_name)
    end = week + timedelta(days=6)
    days = count(apps, week, end, provider)
    weeks: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (_day, *rest), counts in days.items():
        for column, n in counts.items():
            weeks[(week, *rest)][column] += n
    has_channel = fact != APPOINTMENTS
    rows = []
    for span, table in ((1, days), (7, weeks)):
        for key, counts in table.items():
            fields = dict(zip(("day", *_KEY), key[:4], strict=True))
            if has_channel:
                fields["channel"] = key[4]
            rows.append(model(span=span, **fields, **counts))
    stale = model.objects.filter(day__range=(week, end))
    if provider is not None:
        stale = stale.filter(provider_id=provider)
    stale.delete()
    model.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def refresh(fact: str, day: date, provider: int, *, apps: Any = global_apps) -> None:
    """Recompute `provider`'s rows of `fact` for the ISO week holding `day`.

    Runs inside the caller's transaction (or its own), so the roll-up commits or rolls back
    with the change that caused it."""
    week = monday(day)
    with transaction.atomic():
        _lock(fact, week, [provider])
        _replace(apps, fact, week, provider)


def rebuild(start: date, end: date, *, apps: Any = global_apps, lock: bool = True) -> int:
    """Recompute every roll-up for the ISO weeks touching [start, end]; one transaction per week
    (a savepoint inside a caller's transaction). Returns the roll-up rows written.

    `lock=False` only where nobody else can write the roll-ups (the migration creating them:
    one transaction holding a lock per week and provider would run out of lock slots)."""
    providers = list(_model(apps, "Provider").objects.values_list("pk", flat=True))
    written, week = 0, monday(start)
    while week <= end:
        with transaction.atomic():
            for fact in FACTS:
                if lock:
                    _lock(fact, week, providers)
                written += _replace(apps, fact, week, None)
        week += timedelta(days=7)
    return written


def rebuild_recent(days: int, *, apps: Any = global_apps) -> int:
    """Recompute the last `days` days (default time zone) and every later day holding data."""
    today = timezone.localdate(timezone=timezone.get_default_timezone())
    found = data_range(apps=apps)
    end = max(today, found[1]) if found else today
    return rebuild(today - timedelta(days=days), end, apps=apps)


def data_range(*, apps: Any = global_apps) -> tuple[date, date] | None:
    """The first and last day any raw row falls on (for a full rebuild), None without data."""
    from django.db.models import Max, Min

    days: list[date] = []
    r = _model(apps, "Response").objects.aggregate(lo=Min("visit_date"), hi=Max("visit_date"))
    days += [d for d in r.values() if d]
    for name, field in (("Invitation", "created_at"), ("Appointment", "start")):
        m = _model(apps, name).objects.aggregate(lo=Min(field), hi=Max(field))
        days += [local_day(v) for v in m.values() if v]
    return (min(days), max(days)) if days else None

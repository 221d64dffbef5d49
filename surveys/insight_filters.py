"""What the dashboard filters on, the rows each filter selects, and the pure arithmetic.

`Filters` is the URL's GET parameters, parsed; the queryset functions turn it into the rows of
each table (on the denormalised, indexed columns); the arithmetic (shares, NPS, confidence
intervals, change) takes counts and returns figures. `surveys.insights_queries` builds every
figure of the page from these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import TypeVar

from django.db.models import Model, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from scheduling.models import Appointment, AppointmentStatus
from surveys.models import Comment, Invitation, InvitationStatus, Response

DEFAULT_DAYS = 90
TOP_BOX = 4  # Likert "Always"
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
_M = TypeVar("_M", bound=Model)


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


def window(f: Filters) -> tuple[datetime, datetime]:
    """The period as aware datetimes [start 00:00, day after end 00:00) in the current zone."""
    zone = timezone.get_current_timezone()
    return (
        datetime.combine(f.start, time.min, tzinfo=zone),
        datetime.combine(f.end + timedelta(days=1), time.min, tzinfo=zone),
    )


# -- querysets --------------------------------------------------------------------------------


def response_q(f: Filters, prefix: str = "") -> Q:
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
    return Response.objects.filter(response_q(f)).order_by()


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
    low, high = window(f)
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
    low, high = window(f)
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

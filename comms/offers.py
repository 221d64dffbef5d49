"""Waitlist offers: a freed slot is offered, a few patients at a time, until someone claims it.

- `on_appointment_changed` (a `scheduling.signals.appointment_changed` receiver) runs inside the
  transaction that cancelled or moved a visit: it records a `SlotRelease`, ranks the waitlist
  with `scheduling.backfill.backfill` and sends the first batch of offers through the outbox.
  A booking that lands on an open release (staff filled it) withdraws its offers.
- `advance` (run every minute by `comms.offer_tasks.advance_offers`) expires stale offers and
  sends the next batch when a batch ran out unclaimed.
- `claim` books the slot for one offer; it locks the release row, so the first claim wins.

Logs carry ids only.
"""

from __future__ import annotations

import contextvars
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from comms.compose import compose, enqueue_written
from comms.facts import format_date, format_time
from comms.models import OutboundMessage, Purpose, SlotRelease, WaitlistOffer
from comms.outbox import allowed_window, cancel_pending
from comms.quiet_hours import next_allowed_time
from comms.reminders import choose_channel
from scheduling import planning, services, slots
from scheduling.backfill import backfill
from scheduling.links import absolute, make_token
from scheduling.models import (
    Appointment,
    AppointmentRequest,
    CreatedVia,
    RequestStatus,
)

log = logging.getLogger(__name__)

OFFER_LINK_MAX_AGE_S = 2 * 24 * 3600  # the row's expires_at is the real limit
# Offers stop this long before the slot: a patient needs time to get there.
LEAD = timedelta(hours=1)
CANDIDATES = 12  # ranked candidates kept per release (batches are sent from these)
OFFERABLE = (WaitlistOffer.State.PENDING, WaitlistOffer.State.OPEN)

# The release a claim is booking right now: its own "booked" signal must not withdraw it.
_claiming: contextvars.ContextVar[int | None] = contextvars.ContextVar("claiming", default=None)


def batch_size() -> int:
    return settings.COMMS_OFFER_BATCH


def offer_ttl() -> timedelta:
    """How long one batch may answer (minutes in settings)."""
    return timedelta(minutes=settings.COMMS_OFFER_TTL_MINUTES)


def offer_url(offer: WaitlistOffer) -> str:
    return absolute(reverse("offer", args=[make_token("offer", offer.pk)]))


# -- the signal ---------------------------------------------------------------------------------
def on_appointment_changed(
    sender, appointment: Appointment, action: str, previous: dict | None = None, **kwargs
) -> None:
    """Offer freed time to the waitlist; withdraw offers for time staff just filled."""
    previous = previous or {}
    # A savepoint: a failure here must never undo the cancellation or booking that caused it.
    try:
        with transaction.atomic():
            if action in ("booked", "rescheduled"):
                withdraw_overlapping(appointment)
            if action == "cancelled":
                release_slot(
                    appointment,
                    start=appointment.start,
                    end=appointment.blocked_until,
                    provider_id=appointment.provider_id,
                    location_id=appointment.location_id,
                )
            elif action == "rescheduled" and ("start" in previous or "provider" in previous):
                old_start = (
                    datetime.fromisoformat(previous["start"])
                    if previous.get("start")
                    else appointment.start
                )
                release_slot(
                    appointment,
                    start=old_start,
                    end=old_start + (appointment.blocked_until - appointment.start),
                    provider_id=int(previous.get("provider") or appointment.provider_id),
                    location_id=int(previous.get("location") or appointment.location_id),
                )
    except Exception:
        log.exception("waitlist offers failed for appointment %s (%s)", appointment.pk, action)


def release_slot(
    appointment: Appointment,
    *,
    start: datetime,
    end: datetime,
    provider_id: int,
    location_id: int,
    now: datetime | None = None,
) -> SlotRelease | None:
    """Record the freed time [start, end) (aware; end includes the buffer) and offer it."""
    now = now or timezone.now()
    if start - LEAD <= now:
        return None  # too late for anyone to take it
    if SlotRelease.objects.filter(cancelled_appointment=appointment, start=start).exists():
        # This very time was released already (e.g. a repeated signal): offer it once.
        log.info("appointment %s already released this slot; not offered again", appointment.pk)
        return None
    release = SlotRelease.objects.create(
        cancelled_appointment=appointment,
        provider_id=provider_id,
        location_id=location_id,
        start=start,
        end=end,
        created_at=now,
    )
    ranked = rank_candidates(release, appointment, now=now)
    WaitlistOffer.objects.bulk_create(
        [
            WaitlistOffer(
                release=release,
                request_id=request_id,
                patient_id=patient_id,
                rank=rank,
                start=offer_start,
                reason=reason[:300],
            )
            for rank, (request_id, patient_id, offer_start, reason) in enumerate(ranked, 1)
        ]
    )
    log.info("release %s: %s candidate(s)", release.pk, len(ranked))
    send_batch(release, now=now)
    return release


def rank_candidates(
    release: SlotRelease, appointment: Appointment, *, now: datetime
) -> list[tuple[int, int, datetime, str]]:
    """Waitlist requests that fit the freed time, best first: (request, patient, start, why)."""
    zone = release.location.zone
    day = release.start.astimezone(zone).date()
    rows = {
        str(row.pk): row
        for row in AppointmentRequest.objects.filter(
            status__in=[RequestStatus.OPEN, RequestStatus.OFFERED],
            earliest_date__lte=day,
            latest_date__gte=day,
        )
        .exclude(patient_id=appointment.patient_id)
        .select_related("patient__home_location", "appointment_type", "location")
    }
    if not rows:
        return []
    requests = [planning.booking_request(row, not_before=now + LEAD) for row in rows.values()]
    clinic = planning.snapshot(
        release.start - timedelta(days=1),
        release.end + timedelta(days=1),
        exclude_appointment=appointment.pk if appointment.status == "cancelled" else None,
    )
    visit_end = release.start + appointment.appointment_type.duration
    freed = slots.ExistingAppointment(
        str(appointment.pk),
        str(release.provider_id),
        release.start,
        min(visit_end, release.end),
        int((release.end - min(visit_end, release.end)).total_seconds() // 60),
        str(appointment.patient_id),
        str(release.location_id),
    )
    result = backfill(clinic, freed, requests, k=CANDIDATES)
    if result.blocked_reason:
        log.info("release %s: %s", release.pk, result.blocked_reason)
    ranked = []
    for option in result.options:
        move = option.moves[0]
        if len(option.moves) != 1 or move.appointment_id is not None:
            continue  # chains move booked patients: staff decide those, not an SMS
        row = rows[move.request_id]
        ranked.append((row.pk, row.patient_id, move.start, option.reason))
    return ranked


# -- batches ------------------------------------------------------------------------------------
def send_batch(release: SlotRelease, *, now: datetime | None = None) -> int:
    """Send the next `batch_size()` pending offers of an open release; returns how many.

    An offer's answer time starts when its message can go out: an offer made at night is
    queued for the end of the patient's quiet hours and expires `offer_ttl()` after that (never
    later than `LEAD` before the slot). A candidate whose quiet hours end too late for the slot
    is passed over, and closed as expired with that reason.
    """
    now = now or timezone.now()
    if release.start - LEAD <= now:
        return 0
    pending = list(
        release.offers.filter(state=WaitlistOffer.State.PENDING)
        .select_related(
            "patient__home_location__messaging",
            "request__appointment_type",
            "release__provider",
        )
        .order_by("rank")
    )
    sent_before = release.offers.exclude(offered_at=None).aggregate(n=Max("batch"))["n"]
    number = (sent_before or 0) + 1
    offered, too_late = [], []
    for offer in pending:
        if len(offered) == batch_size():
            break
        send_at, _ = next_allowed_time(
            now, offer.patient.effective_time_zone, *allowed_window(offer.patient)
        )
        expires = min(send_at + offer_ttl(), release.start - LEAD)
        if expires <= send_at:
            too_late.append(offer.pk)
            continue
        _offer(release, offer, number, now=now, send_at=send_at, expires=expires)
        offered.append(offer)
    if too_late:
        _close(
            WaitlistOffer.objects.filter(pk__in=too_late),
            WaitlistOffer.State.EXPIRED,
            "the patient's quiet hours end too close to the slot",
            now,
        )
    AppointmentRequest.objects.filter(
        pk__in=[o.request_id for o in offered], status=RequestStatus.OPEN
    ).update(status=RequestStatus.OFFERED)
    if offered or too_late:
        log.info(
            "release %s: batch %s sent to %s offer(s), %s passed over for quiet hours",
            release.pk,
            number,
            len(offered),
            len(too_late),
        )
    return len(offered)


def _offer(
    release: SlotRelease,
    offer: WaitlistOffer,
    number: int,
    *,
    now: datetime,
    send_at: datetime,
    expires: datetime,
) -> None:
    """Queue one offer's message (due `send_at`) and open the offer until `expires`."""
    patient = offer.patient
    location = release.location
    channel, channel_reason = choose_channel(patient)
    language = "es" if patient.preferred_language == "es" else "en"
    local = offer.start.astimezone(location.zone)
    facts = {
        "date": format_date(local, language),
        "time": format_time(local, language),
        "provider": release.provider.display_name,
        "location": location.name,
        "link": offer_url(offer),
    }
    written = compose(
        patient, Purpose.WAITLIST_OFFER, channel, facts, offer.request.appointment_type
    )
    message, _ = enqueue_written(
        written,
        key=f"offer:{offer.pk}:{channel}",
        patient=patient,
        channel=channel,
        purpose=Purpose.WAITLIST_OFFER,
        # An offer only lives for hours: exempt from the frequency cap. Quiet hours still
        # apply; `send_at` already waits for them.
        urgent=True,
        reason=channel_reason,
        due_at=send_at,
    )
    offer.state, offer.batch, offer.message = WaitlistOffer.State.OPEN, number, message
    offer.offered_at, offer.expires_at = now, expires
    offer.save(update_fields=["state", "batch", "message", "offered_at", "expires_at"])


def _close(offers, state: str, why: str, now: datetime) -> int:
    """Close offers in `state`, withdraw their queued messages, and reopen their requests."""
    rows = list(offers.values_list("pk", "request_id", "message_id"))
    if not rows:
        return 0
    WaitlistOffer.objects.filter(pk__in=[r[0] for r in rows]).update(state=state, closed_at=now)
    cancel_pending(OutboundMessage.objects.filter(pk__in=[r[2] for r in rows if r[2]]), why)
    still_offered = set(
        WaitlistOffer.objects.filter(
            request_id__in=[r[1] for r in rows], state=WaitlistOffer.State.OPEN
        ).values_list("request_id", flat=True)
    )
    AppointmentRequest.objects.filter(
        pk__in={r[1] for r in rows} - still_offered, status=RequestStatus.OFFERED
    ).update(status=RequestStatus.OPEN)
    return len(rows)


def withdraw_overlapping(appointment: Appointment, now: datetime | None = None) -> int:
    """A booking over an open release (e.g. staff filled it) withdraws that release's offers."""
    now = now or timezone.now()
    releases = (
        SlotRelease.objects.select_for_update()
        .filter(
            state=SlotRelease.State.OPEN,
            provider_id=appointment.provider_id,
            start__lt=appointment.blocked_until,
            end__gt=appointment.start,
        )
        .exclude(pk=_claiming.get() or 0)
    )
    count = 0
    for release in releases:
        release.state, release.filled_by = SlotRelease.State.FILLED, appointment
        release.save(update_fields=["state", "filled_by"])
        count += _close(
            release.offers.filter(state__in=OFFERABLE),
            WaitlistOffer.State.WITHDRAWN,
            "slot filled by staff",
            now,
        )
        log.info("release %s filled by appointment %s", release.pk, appointment.pk)
    return count


def advance(now: datetime | None = None) -> dict[str, int]:
    """Expire stale offers and releases; send the next batch where a batch ran out unclaimed."""
    now = now or timezone.now()
    stats = {"expired": 0, "sent": 0, "closed": 0}
    ids = list(
        SlotRelease.objects.filter(state=SlotRelease.State.OPEN).values_list("pk", flat=True)
    )
    for release_id in ids:
        with transaction.atomic():
            # The claim locks this row too, so a batch never expires under a claim in flight.
            release = (
                SlotRelease.objects.select_for_update()
                .select_related("location", "provider")
                .filter(pk=release_id, state=SlotRelease.State.OPEN)
                .first()
            )
            if release is None:
                continue
            if release.start - LEAD <= now:
                stats["expired"] += _close(
                    release.offers.filter(state__in=OFFERABLE),
                    WaitlistOffer.State.EXPIRED,
                    "the slot is too close",
                    now,
                )
                release.state = SlotRelease.State.EXPIRED
                release.save(update_fields=["state"])
                stats["closed"] += 1
                continue
            stats["expired"] += _close(
                release.offers.filter(state=WaitlistOffer.State.OPEN, expires_at__lte=now),
                WaitlistOffer.State.EXPIRED,
                "offer expired",
                now,
            )
            if release.offers.filter(state=WaitlistOffer.State.OPEN).exists():
                continue  # the current batch may still answer
            sent = send_batch(release, now=now)
            stats["sent"] += sent
            if not sent and release.offers.exists():
                # Every candidate was asked and nobody took it.
                release.state = SlotRelease.State.EXPIRED
                release.save(update_fields=["state"])
                stats["closed"] += 1
    return stats


# -- claiming -----------------------------------------------------------------------------------
class ClaimRefused(Exception):  # noqa: N818 - the page the patient sees
    """`state` is "taken" (someone else was faster), "expired" or "unavailable"."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


@transaction.atomic
def claim(offer_id: int, now: datetime | None = None) -> Appointment:
    """Book the offered slot for this offer's patient, or raise ClaimRefused."""
    now = now or timezone.now()
    offer = WaitlistOffer.objects.select_related("release").get(pk=offer_id)
    # Lock the release first (every path that changes it does), so the first claim wins.
    release = SlotRelease.objects.select_for_update().get(pk=offer.release_id)
    offer = (
        WaitlistOffer.objects.select_for_update()
        .select_related("request__appointment_type", "patient", "release")
        .get(pk=offer_id)
    )
    if offer.state == WaitlistOffer.State.CLAIMED and offer.booked_appointment_id:
        return Appointment.objects.get(pk=offer.booked_appointment_id)  # a repeated click
    if release.state == SlotRelease.State.FILLED or offer.state in (
        WaitlistOffer.State.TAKEN,
        WaitlistOffer.State.WITHDRAWN,
    ):
        raise ClaimRefused("taken")
    if (
        release.state != SlotRelease.State.OPEN
        or offer.state != WaitlistOffer.State.OPEN
        or (offer.expires_at is not None and offer.expires_at <= now)
    ):
        raise ClaimRefused("expired")
    request = offer.request
    if request.status not in (RequestStatus.OPEN, RequestStatus.OFFERED):
        raise ClaimRefused("unavailable")  # booked elsewhere meanwhile, or withdrawn
    token = _claiming.set(release.pk)
    try:
        with transaction.atomic():
            appointment = services.book(
                patient=offer.patient,
                provider=release.provider,
                location=release.location,
                appointment_type=request.appointment_type,
                start=offer.start,
                actor="patient (waitlist offer)",
                via=CreatedVia.WAITLIST,
            )
    except services.SchedulingError as exc:
        log.info("offer %s could not be booked: %s", offer.pk, exc.code)
        raise ClaimRefused("unavailable") from None
    finally:
        _claiming.reset(token)
    release.state, release.filled_by = SlotRelease.State.FILLED, appointment
    release.save(update_fields=["state", "filled_by"])
    offer.state, offer.closed_at, offer.booked_appointment = (
        WaitlistOffer.State.CLAIMED,
        now,
        appointment,
    )
    offer.save(update_fields=["state", "closed_at", "booked_appointment"])
    request.status, request.booked_appointment = RequestStatus.BOOKED, appointment
    request.save(update_fields=["status", "booked_appointment"])
    _close(
        release.offers.filter(state__in=OFFERABLE).exclude(pk=offer.pk),
        WaitlistOffer.State.TAKEN,
        "slot taken by another patient",
        now,
    )
    # The patient's other open offers are moot now that they have a visit.
    _close(
        WaitlistOffer.objects.filter(request=request, state__in=OFFERABLE),
        WaitlistOffer.State.WITHDRAWN,
        "patient booked another offer",
        now,
    )
    log.info("offer %s claimed: appointment %s", offer.pk, appointment.pk)
    return appointment

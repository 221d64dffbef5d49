"""The patient's page for a waitlist offer, opened from a signed link in the offer message.

GET shows the slot (first name only); POST claims it. Every outcome is a page, never a 500:
taken by someone else (409), expired (410), a tampered or unknown link (400).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation

from comms import offers
from comms.facts import format_date, format_time
from comms.models import SlotRelease, WaitlistOffer
from scheduling.links import BadLink, read_token

log = logging.getLogger(__name__)

PROBLEM_STATUS = {"invalid": 400, "taken": 409, "unavailable": 409, "expired": 410}


def _problem(request: HttpRequest, problem: str) -> HttpResponse:
    return render(
        request, "comms/offer_problem.html", {"problem": problem}, status=PROBLEM_STATUS[problem]
    )


def _offer(token: str) -> tuple[WaitlistOffer | None, str]:
    try:
        offer_id = int(read_token("offer", token, offers.OFFER_LINK_MAX_AGE_S))
    except BadLink as exc:
        return None, exc.reason
    except ValueError:
        return None, "invalid"
    offer = (
        WaitlistOffer.objects.select_related(
            "patient", "release__provider", "release__location", "request__appointment_type"
        )
        .filter(pk=offer_id)
        .first()
    )
    return offer, "" if offer else "invalid"


def _state(offer: WaitlistOffer) -> str:
    """What the patient should see before trying: "", "claimed", "taken" or "expired"."""
    if offer.state == WaitlistOffer.State.CLAIMED:
        return "claimed"
    if offer.release.state == SlotRelease.State.FILLED or offer.state in (
        WaitlistOffer.State.TAKEN,
        WaitlistOffer.State.WITHDRAWN,
    ):
        return "taken"
    if (
        offer.state != WaitlistOffer.State.OPEN
        or offer.release.state != SlotRelease.State.OPEN
        or (offer.expires_at is not None and offer.expires_at <= timezone.now())
    ):
        return "expired"
    return ""


def claim(request: HttpRequest, token: str) -> HttpResponse:
    offer, problem = _offer(token)
    if offer is None:
        return _problem(request, problem)
    language = "es" if offer.patient.preferred_language == "es" else "en"
    with translation.override(language):
        state = _state(offer)
        if request.method == "POST" and not state:
            try:
                offers.claim(offer.pk)
            except offers.ClaimRefused as exc:
                return _problem(request, exc.state)
            offer.refresh_from_db()
            state = "claimed"
        elif state in ("taken", "expired"):
            return _problem(request, state)
        local = offer.start.astimezone(offer.release.location.zone)
        context = {
            "first_name": offer.patient.first_name,
            "date": format_date(local, language),
            "time": format_time(local, language),
            "provider": offer.release.provider.display_name,
            "location": offer.release.location.name,
            "claimed": state == "claimed",
        }
        return render(request, "comms/offer.html", context)

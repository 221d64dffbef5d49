"""Patient links of comms: e-mail unsubscribe (the reschedule link belongs to scheduling)."""

from __future__ import annotations

from django.urls import reverse

from scheduling.links import BadLink, absolute, make_token, read_token, reschedule_url

__all__ = ["BadLink", "read_token", "reschedule_url", "unsubscribe_url"]

UNSUBSCRIBE_MAX_AGE_S = 365 * 24 * 3600


def unsubscribe_url(patient_id: int) -> str:
    return absolute(reverse("unsubscribe", args=[make_token("unsubscribe", patient_id)]))

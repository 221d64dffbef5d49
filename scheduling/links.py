"""Signed, expiring tokens for links patients open without logging in.

Django `TimestampSigner` values over a purpose-specific salt: a token for one purpose is useless
for another, and tampering or expiry is detected without a database lookup. Single use, where
needed, is the caller's job (e.g. an appointment that already moved refuses a second move).
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

RESCHEDULE_MAX_AGE_S = 7 * 24 * 3600


class BadLink(Exception):  # noqa: N818 - the patient-facing state: "bad link"
    """The link was tampered with, expired or is for something else; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_token(purpose: str, value: str | int) -> str:
    return signing.TimestampSigner(salt=f"clinic-comms:{purpose}").sign(str(value))


def read_token(purpose: str, token: str, max_age_s: int) -> str:
    """The signed value, or BadLink('expired' | 'invalid')."""
    try:
        return signing.TimestampSigner(salt=f"clinic-comms:{purpose}").unsign(
            token, max_age=max_age_s
        )
    except signing.SignatureExpired:
        raise BadLink("expired") from None
    except signing.BadSignature:
        raise BadLink("invalid") from None


def absolute(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def reschedule_url(appointment) -> str:
    """Single use: the token names the visit's current start, so once moved it is spent."""
    value = f"{appointment.pk}:{int(appointment.start.timestamp())}"
    return absolute(reverse("reschedule", args=[make_token("reschedule", value)]))

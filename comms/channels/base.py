"""The one interface every delivery channel implements.

A channel turns an `OutgoingMessage` (a plain copy of an outbox row) into one provider call and
answers with a `SendResult` or raises `DeliveryError`. The outbox decides what to do next from
the error alone:

- ``permanent=True``: retrying cannot help (invalid number, recipient opted out); mark failed.
- ``permanent=False, outcome_unknown=False``: the provider certainly did not take the message
  (rate limited, connection refused); retry with backoff.
- ``outcome_unknown=True``: the request may have been accepted (timeout after sending). Ask
  `find_existing` before any retry, or a patient gets the reminder twice.

Channels never log phone numbers, addresses or bodies, only outbox keys and provider ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "Channel",
    "ChannelDisabled",
    "DeliveryError",
    "OutgoingMessage",
    "SendResult",
    "redact",
]


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything a channel needs to deliver one outbox row."""

    key: str  # the outbox row's unique key, e.g. "appt:42:rule:3:sms"
    to: str  # E.164 phone number for SMS, address for email
    body: str  # plain text; the SMS itself, or the email's text part
    subject: str | None = None  # email only
    html: str | None = None  # email only: HTML alternative of `body`
    ics: bytes | None = None  # email only: iCalendar invitation (see comms.ics)
    status_callback: str | None = None  # SMS only: overrides the channel's callback base URL
    list_unsubscribe: str | None = None  # email only: https:// or mailto: unsubscribe link


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it took the message."""

    provider_id: str  # Twilio message SID, email Message-ID, or a synthetic id
    status: str  # provider's initial status, e.g. 'queued', 'accepted', 'sent'
    segments: int | None = None  # SMS segments billed; None for email


class DeliveryError(Exception):
    """A send that did not (certainly) succeed. `text` must hold no phone number or address."""

    def __init__(
        self, code: str, text: str, permanent: bool = False, outcome_unknown: bool = False
    ) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code  # provider error code or our own short slug ("timeout", "http-503")
        self.text = text
        self.permanent = permanent
        self.outcome_unknown = outcome_unknown

    def __repr__(self) -> str:
        return (
            f"DeliveryError(code={self.code!r}, text={self.text!r}, "
            f"permanent={self.permanent}, outcome_unknown={self.outcome_unknown})"
        )


class ChannelDisabled(Exception):  # noqa: N818 - a state, not a failure: "channel disabled"
    """The channel has no credentials configured; show it as disabled, do not crash."""


class Channel:
    """Base class: one small subclass per channel."""

    name = "base"

    def send(self, message: OutgoingMessage) -> SendResult:
        """Deliver `message` once; raise DeliveryError on failure."""
        raise NotImplementedError

    def find_existing(self, message: OutgoingMessage, since: datetime | None = None) -> str | None:
        """Return the provider id of an earlier send of `message`, or None if none is known.

        `since` is when the first attempt started (aware). Channels that cannot ask their
        provider return None, so the caller must weigh the risk of a duplicate itself.
        """
        return None


# Seven or more digits, optionally with a leading +, spaces or dashes: phone numbers in
# provider error messages ("The 'To' number +1555... is not a valid phone number").
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_EMAIL = re.compile(r"[^\s<>\"']+@[^\s<>\"']+")


def redact(text: str) -> str:
    """Remove phone numbers and email addresses from a provider's error text."""
    return _EMAIL.sub("[address]", _PHONE.sub("[number]", text))

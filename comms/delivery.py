"""Which channel object delivers each kind of message, chosen from settings.

SMS: Twilio when its credentials are set; otherwise the demo file channel when
`SMS_BACKEND=file` (the embedded default), else "disabled". E-mail: Django's mail (its backend is
SMTP, console or files, from EMAIL_URL).
"""

from __future__ import annotations

import threading

from django.conf import settings

from comms.channels.base import Channel, ChannelDisabled
from comms.channels.console import FileChannel
from comms.channels.email import EmailChannel
from comms.channels.sms import SmsChannel


def build_channel(name: str) -> Channel | str:
    """A new channel object for `name`, or the reason it is disabled (uncached)."""
    try:
        if name == "sms":
            if settings.SMS_BACKEND == "file":
                return FileChannel(settings.SMS_FILE_PATH, channel="sms")
            if settings.SMS_BACKEND == "disabled":
                return "SMS disabled by SMS_BACKEND=disabled"
            return SmsChannel.from_config(
                account_sid=settings.TWILIO_ACCOUNT_SID,
                auth_token=settings.TWILIO_AUTH_TOKEN,
                from_number=settings.TWILIO_FROM_NUMBER or None,
                messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID or None,
                status_callback_base=f"{settings.PUBLIC_BASE_URL}/hooks/twilio/status/",
                base_url=settings.TWILIO_API_BASE_URL or None,
                timeout=settings.TWILIO_TIMEOUT_S,
            )
        if name == "email":
            return EmailChannel.from_config(from_email=settings.DEFAULT_FROM_EMAIL)
    except ChannelDisabled as exc:
        return str(exc)
    return f"unknown channel {name!r}"


# One channel object per thread: the twilio client keeps each response on the client object and
# returns it from there, so threads sharing one could be handed each other's response.
_local = threading.local()
_generation = 0  # bumped by reset(): every thread rebuilds its channels on next use


def _build(name: str) -> Channel | str:
    if getattr(_local, "generation", None) != _generation:
        _local.channels, _local.generation = {}, _generation
    if name not in _local.channels:
        _local.channels[name] = build_channel(name)
    return _local.channels[name]


def channel_for(name: str) -> Channel:
    """This thread's channel that delivers `name` messages, or raise ChannelDisabled saying
    why."""
    built = _build(name)
    if isinstance(built, str):
        raise ChannelDisabled(built)
    return built


def channel_states() -> dict[str, str]:
    """Each channel's state for the admin: 'enabled (Twilio)', 'disabled: …'."""
    states = {}
    for name in ("sms", "email"):
        built = _build(name)
        states[name] = (
            f"disabled: {built}" if isinstance(built, str) else f"enabled ({type(built).__name__})"
        )
    return states


def reset() -> None:
    """Forget built channels in every thread (tests change settings between cases)."""
    global _generation
    _generation += 1

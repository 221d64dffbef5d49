"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

    with FakeSMTP() as smtp:
        connection = get_connection("django.core.mail.backends.smtp.EmailBackend",
                                    host="127.0.0.1", port=smtp.port, timeout=5)
        ...
        message = smtp.messages[0]      # email.message.EmailMessage, policy=default
        smtp.envelopes[0].rcpt_tos      # what the client said in RCPT TO

`reject(address, code, text)` makes RCPT TO for that address fail, e.g. 550 (permanent) or
450 (greylisting, transient).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

__all__ = ["FakeSMTP", "Envelope"]


@dataclass(frozen=True)
class Envelope:
    """One accepted SMTP transaction."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage


def _free_port() -> int:
    # aiosmtpd's Controller connects to its own port to check it is up, so it needs a real
    # port number rather than 0; the window between closing and re-binding is harmless here.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, owner: FakeSMTP) -> None:
        self.owner = owner

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.owner._lock:
            refusal = self.owner._rejections.get(address.lower())
        if refusal:
            return f"{refusal[0]} {refusal[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data = envelope.original_content or envelope.content
        # SMTP puts CRLF on every line; parse with LF so text parts compare as they were written
        # (base64 parts such as the .ics keep their own CRLFs inside the encoding).
        parsed = message_from_bytes(data.replace(b"\r\n", b"\n"), policy=policy.default)
        record = Envelope(envelope.mail_from, tuple(envelope.rcpt_tos), data, parsed)  # type: ignore[arg-type]
        with self.owner._lock:
            self.owner._envelopes.append(record)
        return "250 Message accepted for delivery"


class FakeSMTP:
    """Loopback SMTP server recording parsed messages; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._envelopes: list[Envelope] = []
        self._rejections: dict[str, tuple[int, str]] = {}
        self._controller: Controller | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def start(self) -> FakeSMTP:
        self.port = _free_port()
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSMTP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reject(self, address: str, code: int = 550, text: str = "5.1.1 No such user") -> None:
        """Refuse RCPT TO `address` with `code` and `text`."""
        with self._lock:
            self._rejections[address.lower()] = (code, text)

    @property
    def envelopes(self) -> list[Envelope]:
        with self._lock:
            return list(self._envelopes)

    @property
    def messages(self) -> list[EmailMessage]:
        """Parsed messages received, oldest first."""
        return [envelope.message for envelope in self.envelopes]

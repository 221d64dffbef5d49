"""Email through Django's mail API: plain text, an HTML alternative and an .ics invitation.

The SMTP server, credentials and timeout come from the Django connection (EMAIL_* settings, or a
connection passed in). The Message-ID is derived from the outbox key, so a re-send after an
unknown outcome carries the same Message-ID and mail systems that de-duplicate on it (Gmail
does) show the patient one message. SMTP gives no way to ask whether a message went, so
`find_existing` stays None and an outcome-unknown email is a judgement call for the outbox.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import socket
from email.mime.text import MIMEText
from email.utils import parseaddr
from typing import Any

from django.core.mail import EmailMultiAlternatives, get_connection

from .base import Channel, ChannelDisabled, DeliveryError, OutgoingMessage, SendResult, redact

__all__ = ["EmailChannel"]

logger = logging.getLogger(__name__)

_METHOD = re.compile(rb"^METHOD:([A-Z-]+)\r?$", re.MULTILINE)


def _smtp_error(exc: Exception) -> DeliveryError:
    """Map smtplib/socket failures; a 5xx reply is permanent, a 4xx reply transient."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        return DeliveryError(
            f"smtp-{codes[0] if codes else 'rcpt'}", "recipient refused", permanent
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # Our credentials, not the message: transient so it goes once the settings are fixed.
        return DeliveryError(f"smtp-{exc.smtp_code}", "SMTP authentication failed")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        permanent = 500 <= exc.smtp_code < 600
        return DeliveryError(f"smtp-{exc.smtp_code}", redact(text)[:200] or "refused", permanent)
    if isinstance(exc, ConnectionRefusedError | socket.gaierror):
        return DeliveryError("smtp-connect", "could not connect to the SMTP server")
    # Timeouts, disconnects and resets may come after the server accepted the DATA.
    return DeliveryError("smtp-io", type(exc).__name__, outcome_unknown=True)


class EmailChannel(Channel):
    """Sends one email per outbox row through a Django mail connection."""

    name = "email"

    def __init__(
        self, *, from_email: str, connection: Any = None, reply_to: str | None = None
    ) -> None:
        """`connection` is a Django mail backend; None uses the settings' EMAIL_BACKEND."""
        if not parseaddr(from_email)[1]:
            raise ValueError("EmailChannel needs a from_email address")
        self.from_email = from_email
        self.connection = connection
        self.reply_to = reply_to
        self.domain = parseaddr(from_email)[1].rpartition("@")[2] or "localhost"

    @classmethod
    def from_config(cls, *, from_email: str | None = None, **options: Any) -> EmailChannel:
        """Build the channel from settings, or raise ChannelDisabled if no sender is set."""
        if not from_email:
            raise ChannelDisabled("email disabled: DEFAULT_FROM_EMAIL not set")
        return cls(from_email=from_email, **options)

    def message_id(self, key: str) -> str:
        """The Message-ID for outbox key `key`: stable, and revealing nothing about the key."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"<{digest}@{self.domain}>"

    def build(self, message: OutgoingMessage) -> EmailMultiAlternatives:
        """The Django email for `message`, not yet sent."""
        headers = {"Message-ID": self.message_id(message.key), "Auto-Submitted": "auto-generated"}
        if message.list_unsubscribe:
            headers["List-Unsubscribe"] = f"<{message.list_unsubscribe}>"
            if message.list_unsubscribe.startswith("https://"):
                # RFC 8058 one-click: mail clients POST to the link, no page to click through.
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email = EmailMultiAlternatives(
            subject=message.subject or "",
            body=message.body,
            from_email=self.from_email,
            to=[message.to],
            reply_to=[self.reply_to] if self.reply_to else None,
            headers=headers,
            connection=self.connection or get_connection(),
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        if message.ics:
            found = _METHOD.search(message.ics)
            invitation = MIMEText(message.ics.decode("utf-8"), "calendar", "utf-8")
            # The Content-Type method must match the METHOD inside (RFC 6047).
            invitation.set_param("method", found.group(1).decode() if found else "REQUEST")
            invitation.add_header("Content-Disposition", "attachment", filename="invite.ics")
            email.attach(invitation)
        return email

    def send(self, message: OutgoingMessage) -> SendResult:
        """Hand the email to the SMTP server; the result's status is 'sent'."""
        if "@" not in message.to:
            raise DeliveryError("invalid-to", "recipient is not an email address", permanent=True)
        if not message.subject:
            raise DeliveryError("no-subject", "email needs a subject", permanent=True)
        email = self.build(message)
        try:
            sent = email.send(fail_silently=False)
        except (smtplib.SMTPException, OSError) as exc:
            error = _smtp_error(exc)
            logger.warning(
                "email failed key=%s code=%s permanent=%s unknown=%s",
                *(message.key, error.code, error.permanent, error.outcome_unknown),
            )
            raise error from exc
        if not sent:
            raise DeliveryError("not-sent", "the mail backend sent nothing")
        provider_id = email.extra_headers["Message-ID"]
        logger.info("email sent key=%s message_id=%s", message.key, provider_id)
        return SendResult(provider_id=provider_id, status="sent", segments=None)

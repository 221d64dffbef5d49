"""SMS through Twilio's Messages API, with the official `twilio` client.

Every request has a timeout (the client has none by default). `base_url` points the real client
at another server, such as the loopback fake in tests: `TWILIO_EDGE`/`TWILIO_REGION` only change
the host name, so our HTTP client rewrites ``https://*.twilio.com`` instead.

Twilio's Messages API has no idempotency key, and a read timeout says nothing about whether the
message was created. `find_existing` answers that after the fact; see its docstring.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from comms.segments import count_segments, to_gsm_safe

from .base import Channel, ChannelDisabled, DeliveryError, OutgoingMessage, SendResult, redact

__all__ = ["SmsChannel", "CALLBACK_KEY_PARAM", "PERMANENT_ERRORS", "E164"]

logger = logging.getLogger(__name__)

CALLBACK_KEY_PARAM = "outbox_key"  # query parameter carrying our outbox key in StatusCallback
E164 = re.compile(r"\+[1-9]\d{1,14}")
CLOCK_SKEW = timedelta(minutes=2)  # between our clock and Twilio's date_created

# Twilio error codes on message create that no retry can fix (https://www.twilio.com/docs/errors).
PERMANENT_ERRORS: dict[int, str] = {
    21211: "invalid 'To' phone number",
    21408: "sending to this region is not enabled (Geo Permissions)",
    21601: "'To' number is not SMS-capable",
    21602: "message body is required",
    21603: "'From' number is required",
    21604: "'To' number is required",
    21606: "'From' number cannot send to this destination",
    21608: "trial account: 'To' number is not verified",
    21610: "recipient has opted out (replied STOP); do not send until they opt in",
    21612: "no route from this sender to the 'To' number",
    21614: "'To' number is not a mobile number",
    21617: "body exceeds the 1600 character limit",
}
# Any other 4xx is treated as permanent too: Twilio rejected this exact request and repeating it
# will not change its mind. The exceptions are rate limiting and authentication (ours to fix).
_TRANSIENT_4XX = {
    401: "authentication failed: check TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN",
    403: "forbidden: check the account's permissions",
    429: "rate limited by Twilio",
}
# 503 means Twilio refused the request; 500/502/504 can come after the message was created.
_SURELY_UNPROCESSED_5XX = {503}


class _TwilioHttp(TwilioHttpClient):
    """TwilioHttpClient that always has a timeout, can rewrite the host, and logs no PHI.

    The stock client logs query parameters at INFO, which for a message list include the
    patient's phone number.
    """

    def __init__(self, timeout: float, base_url: str | None = None) -> None:
        super().__init__(timeout=timeout, logger=logging.getLogger(f"{__name__}.http"))
        self.base_url = base_url.rstrip("/") if base_url else None
        # requests re-reads the proxy and CA-bundle variables of the environment on every
        # request (a scan of os.environ, ~0.8 ms a message here). They cannot change while
        # the process runs: read them once for the one host this client talks to.
        target = self.base_url or "https://api.twilio.com"
        self.proxy = requests.utils.get_environ_proxies(target)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.session.verify = bundle
        self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self.base_url:
            parts = urlsplit(url)
            if (parts.hostname or "").endswith("twilio.com"):
                query = f"?{parts.query}" if parts.query else ""
                url = f"{self.base_url}{parts.path}{query}"
        return super().request(method, url, *args, **kwargs)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        self.logger.debug("twilio request %s %s", kwargs["method"], urlsplit(kwargs["url"]).path)

    def log_response(self, status_code: int, response: Any) -> None:
        self.logger.debug("twilio response %s", status_code)


def _rest_error(exc: TwilioRestException) -> DeliveryError:
    code = str(exc.code or f"http-{exc.status}")
    text = PERMANENT_ERRORS.get(exc.code or 0) or _TRANSIENT_4XX.get(exc.status)
    text = text or redact(str(exc.msg or "").removeprefix("Unable to create record: "))
    if exc.status in _TRANSIENT_4XX:
        return DeliveryError(code, text, permanent=False)
    if exc.status >= 500:
        unknown = exc.status not in _SURELY_UNPROCESSED_5XX
        return DeliveryError(code, text or f"Twilio error {exc.status}", outcome_unknown=unknown)
    return DeliveryError(code, text, permanent=True)


def _transport_error(exc: requests.RequestException) -> DeliveryError:
    if isinstance(exc, requests.ConnectTimeout):
        return DeliveryError("connect-timeout", "could not connect to Twilio in time")
    if isinstance(exc, requests.ReadTimeout):
        return DeliveryError(
            "timeout", "no answer from Twilio in time; the message may exist", outcome_unknown=True
        )
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError):
        return DeliveryError("connection-refused", "could not connect to Twilio")
    # Reset or aborted mid-request: the request may have been read and acted on.
    return DeliveryError("connection-lost", type(exc).__name__, outcome_unknown=True)


def _lookup_error(exc: TwilioException | requests.RequestException) -> DeliveryError:
    if isinstance(exc, TwilioRestException):
        return _rest_error(exc)
    if isinstance(exc, TwilioException):
        # list() raises a bare TwilioException("Unable to fetch page", response) on errors.
        response = exc.args[1] if len(exc.args) > 1 else None
        status = getattr(response, "status_code", "?")
        return DeliveryError(f"http-{status}", f"Twilio could not list messages ({status})")
    return _transport_error(exc)


def _comparable(body: str) -> str:
    """Body as Twilio may store it: Smart Encoding can swap typography and accents."""
    return " ".join(to_gsm_safe(body, transliterate_accents=True).split())


class SmsChannel(Channel):
    """Sends SMS through Twilio; one instance per process is enough (it pools connections)."""

    name = "sms"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback_base: str | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
        lookback: int = 50,
    ) -> None:
        """`timeout` is seconds per HTTP request; `lookback` is how many recent messages to the
        recipient `find_existing` reads. A Messaging Service wins over `from_number`."""
        if not (from_number or messaging_service_sid):
            raise ValueError("SmsChannel needs from_number or messaging_service_sid")
        if not timeout or timeout <= 0:
            raise ValueError("SmsChannel needs a positive timeout")
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback_base = status_callback_base
        self.timeout = timeout
        self.lookback = lookback
        self.client = Client(
            account_sid, auth_token, http_client=_TwilioHttp(timeout=timeout, base_url=base_url)
        )

    @classmethod
    def from_config(
        cls,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        **options: Any,
    ) -> SmsChannel:
        """Build the channel from settings, or raise ChannelDisabled naming what is missing."""
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", account_sid),
                ("TWILIO_AUTH_TOKEN", auth_token),
                ("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID",
                 from_number or messaging_service_sid),
            )
            if not value
        ]  # fmt: skip
        if missing:
            raise ChannelDisabled(f"SMS disabled: {', '.join(missing)} not set")
        return cls(
            account_sid=account_sid,  # type: ignore[arg-type]
            auth_token=auth_token,  # type: ignore[arg-type]
            from_number=from_number,
            messaging_service_sid=messaging_service_sid,
            **options,
        )

    def callback_url(self, message: OutgoingMessage) -> str | None:
        """The StatusCallback URL for `message`: the base URL plus our outbox key."""
        base = message.status_callback or self.status_callback_base
        if not base:
            return None
        parts = urlsplit(base)
        query = [(k, v) for k, v in parse_qsl(parts.query, True) if k != CALLBACK_KEY_PARAM]
        query.append((CALLBACK_KEY_PARAM, message.key))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def send(self, message: OutgoingMessage) -> SendResult:
        """Create the message at Twilio once; the result's status is 'queued' or 'accepted'."""
        if not E164.fullmatch(message.to):
            raise DeliveryError("invalid-to", "recipient is not an E.164 number", permanent=True)
        if not message.body.strip():
            raise DeliveryError("empty-body", "message body is empty", permanent=True)
        params: dict[str, Any] = {"to": message.to, "body": message.body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        callback = self.callback_url(message)
        if callback:
            params["status_callback"] = callback
        try:
            created = self.client.messages.create(**params)
        except TwilioRestException as exc:
            error = _rest_error(exc)
            logger.warning(
                "sms failed key=%s code=%s permanent=%s unknown=%s",
                *(message.key, error.code, error.permanent, error.outcome_unknown),
            )
            raise error from exc
        except requests.RequestException as exc:
            error = _transport_error(exc)
            logger.warning("sms failed key=%s code=%s unknown=%s",
                           message.key, error.code, error.outcome_unknown)  # fmt: skip
            raise error from exc
        except TwilioException as exc:  # e.g. an unreadable answer: it may have been created
            raise DeliveryError("bad-response", type(exc).__name__, outcome_unknown=True) from exc
        provider_segments = int(created.num_segments or 0)
        segments = provider_segments or count_segments(message.body).segments
        logger.info("sms sent key=%s sid=%s segments=%s", message.key, created.sid, segments)
        return SendResult(provider_id=created.sid, status=created.status, segments=segments)

    def fetch(self, provider_id: str) -> SendResult:
        """Ask Twilio for the current status of message `provider_id`."""
        try:
            found = self.client.messages(provider_id).fetch()
        except TwilioRestException as exc:
            raise _rest_error(exc) from exc
        except requests.RequestException as exc:
            raise _transport_error(exc) from exc
        return SendResult(found.sid, found.status, int(found.num_segments or 0) or None)

    def find_existing(self, message: OutgoingMessage, since: datetime | None = None) -> str | None:
        """Return the SID of a message Twilio already has for this outbox row, or None.

        Twilio's message JSON carries no StatusCallback URL and no metadata, so our outbox key
        cannot be read back. We list the `lookback` most recent messages to the recipient
        (newest first, no date filter: queued messages have no DateSent yet) and match:

        - outbound, from our Messaging Service or number;
        - created at or after `since` (the first attempt's start, aware), less clock skew;
        - the same body, compared after GSM-safe folding because Smart Encoding may rewrite
          it, and as a suffix because trial accounts prefix "Sent from your Twilio trial
          account - ". Our bodies name the appointment's date and time, so two outbox rows
          for one patient practically never share one.

        If the account redacts message bodies, any outbound message after `since` matches;
        without `since` nothing can be told and None is returned. Raises DeliveryError
        (transient) when Twilio cannot be asked: the caller must then not re-send.
        """
        try:
            recent = self.client.messages.list(
                to=message.to, limit=self.lookback, page_size=self.lookback
            )
        except (TwilioException, requests.RequestException) as exc:
            # A failed read never sent anything: report it as plainly transient.
            error = _lookup_error(exc)
            logger.warning("sms lookup failed key=%s code=%s", message.key, error.code)
            raise DeliveryError(error.code, error.text) from exc
        sid = self._match(recent, message.body, since)
        logger.info("sms lookup key=%s found=%s", message.key, sid or "none")
        return sid

    def _match(self, recent: Iterable[Any], body: str, since: datetime | None) -> str | None:
        wanted = _comparable(body)
        for candidate in recent:
            if not str(candidate.direction or "").startswith("outbound"):
                continue
            if self.messaging_service_sid:
                if candidate.messaging_service_sid != self.messaging_service_sid:
                    continue
            elif candidate.from_ != self.from_number:
                continue
            created = candidate.date_created
            if since is not None and created is not None and created < since - CLOCK_SKEW:
                continue
            if candidate.body:
                if _comparable(candidate.body).endswith(wanted):
                    return candidate.sid
            elif since is not None:
                return candidate.sid
        return None

"""A loopback fake of the Twilio Messages REST API, for driving the real `twilio` client.

Implements create, fetch and list of /2010-04-01/Accounts/{sid}/Messages with Twilio-shaped JSON
and errors, HTTP basic auth, scripted failures and slowness, and signed status callbacks:

    with FakeTwilio() as twilio:
        twilio.script(Script.error(429, 20429, "Too Many Requests"))
        channel = SmsChannel(account_sid=twilio.account_sid, auth_token=twilio.auth_token,
                             from_number="+15005550006", base_url=twilio.url)
        ...
        assert twilio.messages[0]["to"] == "+15551234567"

Like the real API, message JSON does not include the StatusCallback URL; the fake keeps it in
`messages[i]["status_callback"]` for assertions only.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

from comms.segments import count_segments

API = "/2010-04-01"
_E164 = re.compile(r"\+[1-9]\d{1,14}")
_PATH = re.compile(r"/2010-04-01/Accounts/(?P<account>AC\w+)/Messages(?:/(?P<sid>SM\w+))?\.json")


@dataclass
class Script:
    """One scripted response: an error status/code, a delay (s), and whether to create anyway.

    `create=True` with a delay records the message first and answers late, which is what a
    client-side timeout looks like when Twilio did accept the message.
    """

    status: int = 201
    code: int | None = None
    message: str = ""
    delay: float = 0.0  # seconds to wait before answering
    create: bool = False  # for errors/slowness: still create the message

    @classmethod
    def error(cls, status: int, code: int | None = None, message: str = "") -> Script:
        return cls(status=status, code=code, message=message or f"Scripted error {code or status}")

    @classmethod
    def slow(cls, seconds: float, create: bool = True) -> Script:
        return cls(status=201, delay=seconds, create=create)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True).replace("GMT", "+0000")


def _parse_date_filter(value: str) -> datetime:
    # The twilio client sends "YYYY-MM-DDTHH:MM:SSZ"; the API documents "YYYY-MM-DD".
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakeTwilio:
    """Thread-safe fake Twilio REST server on 127.0.0.1 with a random port."""

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "fake-auth-token",  # noqa: S107
        *,
        callbacks: bool = False,
        callback_statuses: tuple[str, ...] = ("sent", "delivered"),
        callback_duplicates: bool = False,
        callback_reverse: bool = False,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.callbacks = callbacks
        self.callback_statuses = callback_statuses
        self.callback_duplicates = callback_duplicates
        self.callback_reverse = callback_reverse
        self.callback_results: list[dict[str, Any]] = []  # {url, params, status} per POST made
        self._messages: list[dict[str, Any]] = []
        self._scripts: dict[tuple[str, str | None], deque[Script]] = {}
        self._requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._callback_threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two sends; with Nagle on, the client's delayed ACK
            # stalls every request by ~40 ms.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean; requests are in fake.requests

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def configure(
        self, settings: Any, *, from_number: str = "+13125550100", timeout_s: int = 2
    ) -> None:
        """Point the project's SMS channel (Django `settings`) at this fake."""
        from comms import delivery

        settings.TWILIO_ACCOUNT_SID = self.account_sid
        settings.TWILIO_AUTH_TOKEN = self.auth_token
        settings.TWILIO_FROM_NUMBER = from_number
        settings.TWILIO_API_BASE_URL = self.url
        settings.TWILIO_TIMEOUT_S = timeout_s
        settings.SMS_BACKEND = "twilio"
        delivery.reset()

    def stop(self) -> None:
        self._stopping.set()  # wakes scripted sleeps
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._callback_threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "call start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message created, oldest first (copies)."""
        with self._lock:
            return [dict(message) for message in self._messages]

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request received, in order."""
        with self._lock:
            return list(self._requests)

    # -- scripting -------------------------------------------------------------------------
    def script(self, *responses: Script, to: str | None = None, endpoint: str = "create") -> None:
        """Queue responses for the next calls to `endpoint` ('create', 'fetch' or 'list').

        With `to`, they apply only to creates for that recipient; such scripts win over the
        general queue. Unscripted calls behave normally.
        """
        with self._lock:
            self._scripts.setdefault((endpoint, to), deque()).extend(responses)

    def _next_script(self, endpoint: str, to: str | None) -> Script | None:
        with self._lock:
            for key in ((endpoint, to), (endpoint, None)) if to else ((endpoint, None),):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
        return None

    # -- HTTP ------------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        with self._lock:
            self._requests.append((method, split.path))
        length = int(handler.headers.get("Content-Length") or 0)
        form = parse_qs(handler.rfile.read(length).decode()) if length else {}
        params = {key: values[-1] for key, values in form.items()}
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}

        match = _PATH.fullmatch(split.path)
        if match is None:
            return self._reply(handler, 404, self._error_body(404, 20404, "Not found"))
        if not self._authorised(handler, match["account"]):
            return self._reply(handler, 401, self._error_body(401, 20003, "Authenticate"))

        if method == "POST" and match["sid"] is None:
            self._create(handler, params)
        elif method == "GET" and match["sid"] is not None:
            self._fetch(handler, match["sid"])
        elif method == "GET":
            self._list(handler, query)
        else:
            self._reply(handler, 405, self._error_body(405, 20004, "Method not allowed"))

    def _authorised(self, handler: BaseHTTPRequestHandler, account: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        header = handler.headers.get("Authorization", "")
        return account == self.account_sid and secrets.compare_digest(header, f"Basic {expected}")

    def _error_body(self, status: int, code: int | None, message: str) -> dict[str, Any]:
        more = f"https://www.twilio.com/docs/errors/{code}" if code else None
        return {"code": code, "message": message, "more_info": more, "status": status}

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timeout): exactly what slow scripts are for

    def _run_script(self, handler: BaseHTTPRequestHandler, script: Script | None) -> bool:
        """Apply delay/error of `script`; True if the request should proceed normally."""
        if script is None:
            return True
        if script.delay:
            self._stopping.wait(script.delay)
        if script.status >= 300:
            self._reply(
                handler, script.status, self._error_body(script.status, script.code, script.message)
            )
            return False
        return True

    def _create(self, handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        script = self._next_script("create", params.get("To"))
        if script is not None and script.create:
            result = self._validate_and_store(params)  # stored before the (slow) answer
            if not self._run_script(handler, script):
                return
        else:
            if not self._run_script(handler, script):
                return
            result = self._validate_and_store(params)
        if isinstance(result, tuple):
            self._reply(handler, result[0], self._error_body(*result))
        else:
            self._reply(handler, 201, self._public(result))

    def _validate_and_store(self, params: dict[str, str]) -> dict[str, Any] | tuple[int, int, str]:
        to, body = params.get("To"), params.get("Body")
        sender, service = params.get("From"), params.get("MessagingServiceSid")
        if not to:
            return 400, 21604, "A 'To' phone number is required."
        if not _E164.fullmatch(to):
            return 400, 21211, f"The 'To' number {to} is not a valid phone number."
        if not sender and not service:
            return 400, 21603, "A 'From' phone number is required."
        if not body:
            return 400, 21602, "Message body is required."
        if len(body) > 1600:
            return 400, 21617, "The concatenated message body exceeds the 1600 character limit."
        now = datetime.now(UTC)
        sid = "SM" + secrets.token_hex(16)
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "messaging_service_sid": service,
            "body": body,
            # With only a Messaging Service, Twilio answers 'accepted' and picks the sender later.
            "status": "queued" if sender else "accepted",
            "num_segments": str(count_segments(body).segments),
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "status_callback": params.get("StatusCallback"),
        }
        with self._lock:
            self._messages.append(message)
        if self.callbacks and message["status_callback"]:
            thread = threading.Thread(target=self.send_status_callbacks, args=(sid,), daemon=True)
            self._callback_threads.append(thread)
            thread.start()
        return message

    def _public(self, message: dict[str, Any]) -> dict[str, Any]:
        """Twilio's JSON for a message (no StatusCallback: the real API does not return it)."""
        uri = f"{API}/Accounts/{self.account_sid}/Messages/{message['sid']}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": message["body"],
            "date_created": _rfc2822(message["date_created"]),
            "date_sent": _rfc2822(message["date_sent"]) if message["date_sent"] else None,
            "date_updated": _rfc2822(message["date_updated"]),
            "direction": "outbound-api",
            "error_code": message.get("error_code"),
            "error_message": None,
            "from": message["from"],
            "messaging_service_sid": message["messaging_service_sid"],
            "num_media": "0",
            "num_segments": message["num_segments"],
            "price": None,
            "price_unit": "USD",
            "sid": message["sid"],
            "status": message["status"],
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "uri": f"{uri}.json",
        }

    def _fetch(self, handler: BaseHTTPRequestHandler, sid: str) -> None:
        if not self._run_script(handler, self._next_script("fetch", None)):
            return
        with self._lock:
            found = next((m for m in self._messages if m["sid"] == sid), None)
            public = self._public(found) if found else None
        if public is None:
            return self._reply(
                handler,
                404,
                self._error_body(
                    404, 20404, f"The requested resource {API}/Messages/{sid}.json was not found"
                ),
            )
        self._reply(handler, 200, public)

    def _list(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        if not self._run_script(handler, self._next_script("list", None)):
            return
        page_size = min(int(query.get("PageSize", 50)), 1000)
        page = int(query.get("Page", 0))
        with self._lock:
            found = [m for m in reversed(self._messages) if self._matches(m, query)]
            items = [self._public(m) for m in found[page * page_size : (page + 1) * page_size]]
        base = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
        path = f"{API}/Accounts/{self.account_sid}/Messages.json"

        def page_uri(number: int) -> str:
            extra = {"Page": number, **({"PageToken": f"PA{number}"} if number else {})}
            return f"{path}?{urlencode({**base, 'PageSize': page_size, **extra})}"

        has_next = (page + 1) * page_size < len(found)
        self._reply(handler, 200, {
            "messages": items,
            "end": page * page_size + max(len(items) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if has_next else None,
            "previous_page_uri": page_uri(page - 1) if page else None,
            "page": page,
            "page_size": page_size,
            "start": page * page_size,
            "uri": page_uri(page),
        })  # fmt: skip

    @staticmethod
    def _matches(message: dict[str, Any], query: dict[str, str]) -> bool:
        if "To" in query and message["to"] != query["To"]:
            return False
        if "From" in query and message["from"] != query["From"]:
            return False
        sent = message["date_sent"]
        # Messages not yet sent have no DateSent; we assume date filters leave them out, which
        # is the cautious reading of the docs (and why SmsChannel does not filter by date).
        for key, keep in (
            ("DateSent", lambda d, v: d.date() == v.date()),
            ("DateSent<", lambda d, v: d <= v),
            ("DateSent>", lambda d, v: d >= v),
        ):
            if key in query and (sent is None or not keep(sent, _parse_date_filter(query[key]))):
                return False
        return True  # fmt: skip

    # -- status callbacks ------------------------------------------------------------------
    def send_status_callbacks(self, sid: str, statuses: tuple[str, ...] | None = None) -> None:
        """POST signed status callbacks for message `sid` to its StatusCallback URL, in order.

        Honours callback_duplicates/callback_reverse; the message's stored status ends as the
        last status in `statuses`, whatever order the callbacks were delivered in.
        """
        with self._lock:
            message = next(m for m in self._messages if m["sid"] == sid)
        order = list(statuses or self.callback_statuses)
        final = order[-1]
        if self.callback_reverse:
            order.reverse()
        if self.callback_duplicates:
            order = [status for status in order for _ in range(2)]
        validator = RequestValidator(self.auth_token)
        for status in order:
            if self._stopping.is_set():
                return
            now = datetime.now(UTC)
            with self._lock:
                message["status"], message["date_updated"] = final, now
                if status in ("sent", "delivered") and message["date_sent"] is None:
                    message["date_sent"] = now
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": "2010-04-01",
                "From": message["from"] or "",
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": message["to"],
            }
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            if status in ("failed", "undelivered"):
                params["ErrorCode"] = str(message.get("error_code") or 30008)
            url = message["status_callback"]
            signature = validator.compute_signature(url, params)
            try:
                response = requests.post(
                    url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5
                )
                result: int | str = response.status_code
            except requests.RequestException as exc:
                result = repr(exc)
            with self._lock:
                self.callback_results.append({"url": url, "params": params, "status": result})

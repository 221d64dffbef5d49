"""A loopback OpenAI-compatible server for tests and benchmarks: real client, scripted replies.

    with FakeOpenAI() as fake:
        fake.script(Reply.draft("Hi, see you {date}..."), Reply.error(500))
        client = OpenAI(base_url=fake.base_url, api_key="test")
        ...
        fake.requests  # every request body received, parsed, in order

Only POST /v1/chat/completions is implemented. Replies are taken from the script queue in order;
when it is empty the `responder` (a function of the request body) answers, and without one a 500
says the test forgot to script a reply. Every request is recorded before it is answered, so a
test can inspect the prompts even of calls that timed out.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "Reply", "adversarial_replies"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build with the class methods."""

    content: str | None = None
    refusal: str | None = None
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"

    @classmethod
    def json(cls, obj: Any) -> Reply:
        """A structured-output reply whose message.content is `obj` as JSON."""
        return cls(content=json.dumps(obj))

    @classmethod
    def draft(cls, body: str, subject: str = "") -> Reply:
        """A message draft as the writer's schema expects it."""
        return cls.json({"subject": subject, "body": body})

    @classmethod
    def raw(cls, content: str) -> Reply:
        """message.content exactly as given (e.g. invalid JSON)."""
        return cls(content=content)

    @classmethod
    def refused(cls, why: str = "I can't help with that.") -> Reply:
        """A refusal: message.refusal set, content null."""
        return cls(refusal=why)

    @classmethod
    def error(cls, status: int = 500) -> Reply:
        """An HTTP error with an OpenAI-style error body."""
        return cls(status=status)

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Answer only after `seconds`: longer than the client's timeout, it is a timeout."""
        return cls(content=json.dumps({"subject": "", "body": "late"}), delay_s=seconds)

    @classmethod
    def truncated(cls, content: str = '{"subject": "", "body": "Your appo') -> Reply:
        """finish_reason 'length': the model ran out of tokens mid-JSON."""
        return cls(content=content, finish_reason="length")


_OTHER_LANGUAGE = {
    "en": "Hola, le recordamos que tiene una cita con nosotros muy pronto. Por favor, venga con "
    "tiempo y traiga sus documentos. ",
    "es": "Hello, this is a friendly note that you have a visit with us soon. Please come on time "
    "and bring your documents with you. ",
}


def adversarial_replies(
    good_body: str, required: list[str], language: str = "en"
) -> dict[str, Reply]:
    """Bad outputs derived from a good draft, by name. `required` are its placeholders.

    Each must be refused by the writer's validator or call handling. The same catalogue drives
    the tests and bench/writer.py.
    """
    first = "{" + required[0] + "}" if required else ""
    return {
        "dropped_placeholder": Reply.draft(good_body.replace(first, "soon", 1)),
        "extra_placeholder": Reply.draft(good_body + " {patient_name}"),
        "repeated_placeholder": Reply.draft(good_body + " " + first),
        "altered_placeholder": Reply.draft(good_body.replace(first, first.upper(), 1)),
        "invented_time": Reply.draft("See you at 3:30pm! " + good_body),
        "invented_date": Reply.draft("See you on Monday, March 5! " + good_body),
        "url": Reply.draft("Details at https://evil.example.com/x " + good_body),
        "phone": Reply.draft("Call 555-201-7788 with questions. " + good_body),
        "money": Reply.draft("Your copay is $25. " + good_body),
        "too_long": Reply.draft(good_body + " Please remember to come." * 100),
        "wrong_language": Reply.draft(_OTHER_LANGUAGE[language] + good_body),
        "invalid_json": Reply.raw('{"subject": "", "body": "Your appointment is'),
        "wrong_shape": Reply.json({"text": good_body}),
        "refusal": Reply.refused(),
        "truncated": Reply.truncated(),
        "timeout": Reply.hang(3.0),
        "http_500": Reply.error(500),
    }


class FakeOpenAI:
    """The server. `latency_s` delays every reply (on top of a reply's own `delay_s`)."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to give the client, ending in /v1."""
        assert self._server is not None, "call start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> FakeOpenAI:
        """Queue replies; each request takes the next one."""
        with self._lock:
            self._queue.extend(replies)
        return self

    def start(self) -> FakeOpenAI:
        """Listen on a random loopback port in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake._answer(self, body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        # A short poll keeps stop() (and so each test using the fake) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; replies still sleeping are abandoned."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply(status=500, content="no scripted reply left")

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if handler.path.rstrip("/") != "/v1/chat/completions":
            self._send(handler, 404, {"error": {"message": "not found", "type": "not_found"}})
            return
        reply = self._next_reply(body)
        time.sleep(self.latency_s + reply.delay_s)
        if reply.status != 200:
            error = {"message": reply.content or "server error", "type": "server_error"}
            self._send(handler, reply.status, {"error": error})
            return
        self._send(handler, 200, self._completion(body, reply))

    @staticmethod
    def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        completion_tokens = len(reply.content or reply.refusal or "") // 4 + 1
        return {
            "id": f"chatcmpl-fake-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.content if reply.refusal is None else None,
                        "refusal": reply.refusal,
                    },
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            # Roughly four characters a token, like English BPE vocabularies.
            "usage": {
                "prompt_tokens": prompt_chars // 4 + 1,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_chars // 4 + 1 + completion_tokens,
            },
        }

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test): nothing to answer

"""Channels that deliver nowhere: one JSON line per message on stdout or in a file.

They are the defaults when no provider is configured, so the demo and a laptop install show
exactly what a patient would receive while nothing leaves the machine. These lines do contain
the recipient and body: they are the delivery, not a log, so keep the file out of log shipping.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from comms.segments import count_segments

from .base import Channel, OutgoingMessage, SendResult

__all__ = ["ConsoleChannel", "FileChannel"]


def _record(channel: str, message: OutgoingMessage, provider_id: str) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "channel": channel,
        "key": message.key,
        "sent_at": datetime.now(UTC).isoformat(),
        "to": message.to,
        "subject": message.subject,
        "body": message.body,
        "html": message.html,
        "ics": message.ics.decode("utf-8") if message.ics else None,
        "list_unsubscribe": message.list_unsubscribe,
    }


class ConsoleChannel(Channel):
    """Writes each message as one JSON line to a stream (stdout by default)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None, channel: str = "sms") -> None:
        """`channel` is the real channel this one stands in for ('sms' or 'email')."""
        self.stream = stream
        self.channel = channel
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> SendResult:
        """Print the message; returns a synthetic provider id."""
        provider_id = f"console-{uuid.uuid4().hex}"
        line = json.dumps(_record(self.channel, message, provider_id), ensure_ascii=False)
        with self._lock:
            stream = self.stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()
        return SendResult(provider_id, "sent", self._segments(message))

    def _segments(self, message: OutgoingMessage) -> int | None:
        return count_segments(message.body).segments if self.channel == "sms" else None


class FileChannel(ConsoleChannel):
    """Appends each message as one JSON line to `path`; safe across threads and processes."""

    name = "file"

    def __init__(self, path: str | os.PathLike[str], channel: str = "sms") -> None:
        super().__init__(channel=channel)
        self.path = Path(path)

    def send(self, message: OutgoingMessage) -> SendResult:
        """Append the message to the file; returns a synthetic provider id."""
        provider_id = f"file-{uuid.uuid4().hex}"
        line = json.dumps(_record(self.channel, message, provider_id), ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write() on an O_APPEND descriptor keeps lines from several workers whole.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return SendResult(provider_id, "sent", self._segments(message))

    def find_existing(self, message: OutgoingMessage, since: datetime | None = None) -> str | None:
        """The provider id of the last line written for `message.key`, if any."""
        if not self.path.exists():
            return None
        found = None
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash mid-write
                if record.get("key") == message.key and record.get("channel") == self.channel:
                    found = record["provider_id"]
        return found

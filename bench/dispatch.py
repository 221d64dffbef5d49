"""Outbox throughput: N SMS end to end through Celery, beside the bare twilio client's own rate.

Run from the repository root (needs PostgreSQL on 127.0.0.1:5432 and `redis-server` on PATH):

    python -m bench.dispatch                    # 5,000 messages
    python -m bench.dispatch --messages 2000 --json

Uses the same private stack as bench/chaos.py (own redis-server, own database, FakeTwilio in
this process) with no failures and no kills, and one Celery worker with two prefork
processes. Measured in the same run:

- pipeline (sweep): N queued rows due now, drained by `dispatch_due` (claim, gate, send through
  the real twilio client, record, event). Rate = N / (last sent_at - start).
- pipeline (fast path): N rows each published as `dispatch_message`, what `enqueue` does for a
  message due now. Reported beside it, not in the ratio.
- bare: the real twilio client posting to the same fake in one loop in a separate process
  (no database, no broker), which is the ceiling one sender gets from this fake. Measured
  before and after the pipelines and averaged, as other load on the machine drifts.

ratio = pipeline (sweep) / bare. With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path[0] = str(ROOT)

from bench.chaos import FROM_NUMBER, Stack, seed_messages, wait_for  # noqa: E402


def bare_rate(url: str, account_sid: str, auth_token: str, count: int) -> float:
    """Messages/s of one twilio client posting `count` messages in a loop (own process)."""
    from twilio.rest import Client

    from comms.channels.sms import _TwilioHttp

    client = Client(account_sid, auth_token, http_client=_TwilioHttp(timeout=10, base_url=url))
    body = "Reminder: your visit is on Tuesday at 10:30 AM, Riverside. Reply STOP to opt out"
    for i in range(20):  # warm the connection and the code paths
        client.messages.create(to=f"+1999{i:07d}", from_=FROM_NUMBER, body=body)
    started = time.perf_counter()
    for i in range(count):
        client.messages.create(
            to=f"+1888{i:07d}",
            from_=FROM_NUMBER,
            body=body,
            status_callback=f"http://127.0.0.1:9/hooks/twilio/status/?outbox_key=bare:{i}",
        )
    return count / (time.perf_counter() - started)


def send_threads() -> int:
    from comms.tasks import SEND_THREADS

    return SEND_THREADS


def measure_bare(stack: Stack, count: int) -> float:
    fake = stack.fake
    out = subprocess.run(
        [sys.executable, "-m", "bench.dispatch", "--bare", fake.url, str(count)],
        cwd=ROOT,
        env={**stack.env, "BARE_SID": fake.account_sid, "BARE_TOKEN": fake.auth_token},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def drain(count: int, prefix: str, fast_path: bool, kicks: int, timeout: float) -> float:
    """Seed `count` rows, start them moving, wait until all are sent; returns messages/s."""
    from django.db.models import Max
    from django.utils import timezone

    from comms.models import OutboundMessage, Status
    from comms.tasks import dispatch_due, dispatch_message

    ids, _ = seed_messages(count, prefix)
    rows = OutboundMessage.objects.filter(key__startswith=f"{prefix}:")
    started = timezone.now()
    if fast_path:
        for message_id in ids:
            dispatch_message.delay(message_id)
    else:
        for _ in range(kicks):  # one sweep per pool process; each re-queues itself
            dispatch_due.delay()

    def done() -> bool:
        return rows.filter(status__in=[Status.SENT, Status.DELIVERED]).count() >= count

    wait_for(done, timeout, f"{count} messages ({prefix})", every=0.2)
    last = rows.aggregate(last=Max("sent_at"))["last"]
    return count / max((last - started).total_seconds(), 1e-6)


def run(args: argparse.Namespace) -> dict[str, Any]:
    timeout = 120 + args.messages / 10
    # Default time limit (300 s) and visibility timeout: the production configuration.
    with Stack(
        workers=1,
        concurrency=args.processes,
        beat=False,
        task_time_limit_s=None,
        visibility_timeout_s=None,
        db_prefix="clinic_dispatch",
        send_threads=args.send_threads,
    ) as stack:
        try:
            stack.wait_for_workers()
            drain(100, "warm", fast_path=False, kicks=args.processes, timeout=timeout)
            # Bare before and after the pipelines, averaged: other load on the machine drifts.
            bare_count = min(args.messages, args.bare_messages)
            bare_before = measure_bare(stack, bare_count)
            sweep = drain(
                args.messages, "sweep", fast_path=False, kicks=args.processes, timeout=timeout
            )
            fast = (
                drain(args.messages, "fast", fast_path=True, kicks=0, timeout=timeout)
                if args.fast_path
                else None
            )
            bare_after = measure_bare(stack, bare_count)
            bare = (bare_before + bare_after) / 2
        except BaseException:
            print(stack.logs_tail(), file=sys.stderr)
            raise
    return {
        "pipeline_per_s": round(sweep, 1),
        "bare_per_s": round(bare, 1),
        "ratio": round(sweep / bare, 3),
        "messages": args.messages,
        "fast_path_per_s": round(fast, 1) if fast is not None else None,
        "bare_before_per_s": round(bare_before, 1),
        "bare_after_per_s": round(bare_after, 1),
        "send_threads": args.send_threads or send_threads(),
        "worker_processes": args.processes,
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=2, help="worker pool processes")
    parser.add_argument("--bare-messages", type=int, default=3000, help="cap for the bare loop")
    parser.add_argument("--no-fast-path", dest="fast_path", action="store_false")
    parser.add_argument(
        "--send-threads", type=int, default=None, help="override comms.tasks.SEND_THREADS"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--bare", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare:  # the child process of measure_bare
        url, count = args.bare
        rate = bare_rate(url, os.environ["BARE_SID"], os.environ["BARE_TOKEN"], int(count))
        print(f"{rate:.3f}")
        return 0
    result = run(args)
    width = 24
    print(f"{'messages':<{width}}{result['messages']}")
    print(f"{'pipeline (sweep) msg/s':<{width}}{result['pipeline_per_s']}")
    print(f"{'pipeline (fast) msg/s':<{width}}{result['fast_path_per_s']}")
    print(f"{'bare twilio msg/s':<{width}}{result['bare_per_s']}")
    print(f"{'ratio sweep/bare':<{width}}{result['ratio']}")
    print(f"{'send threads':<{width}}{result['send_threads']}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

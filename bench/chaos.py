"""Chaos run of the outbox: SIGKILL workers and restart Redis while N SMS go out; count the damage.

Run from the repository root (needs PostgreSQL on 127.0.0.1:5432 and `redis-server` on PATH):

    python -m bench.chaos                       # 10,000 messages
    python -m bench.chaos --messages 1000 --json

Everything runs on 127.0.0.1 and is private to the run: its own redis-server on a spare port
(no persistence, so a restart loses every queued task), its own database `clinic_chaos_<pid>`
(migrated, dropped at the end), a FakeTwilio in this process answering about 20% of creates
with 429 or 500 (some 500s after creating the message, which is what makes a blind retry send
twice), two Celery worker subprocesses (prefork, concurrency 2) and Celery beat running the
outbox sweep every 2 s. N reminder rows are written due now; half also get a fast-path task,
the rest are left to the sweep. Every ~5 s one worker is SIGKILLed (alternately the whole
worker with its pool, or one pool child) and restarted; Redis is SIGKILLed and restarted once.

Counted at the end: lost = outbox rows whose message never reached the fake; duplicates =
extra messages at the fake carrying the same outbox key (StatusCallback's `outbox_key`);
terminal = rows in a terminal status; latency = sent_at minus the row's original due_at.
With --json the last line is one JSON object. See bench/README.comms.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path[0] = str(ROOT)

PG_ADMIN_URL = os.environ.get("CHAOS_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FROM_NUMBER = "+13125550100"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.1) -> None:
    """Poll `predicate` until true or `timeout` seconds pass (then raise naming `what`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(every)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def _stop(proc: subprocess.Popen | None, group: bool = False, grace: float = 5.0) -> None:
    """Terminate `proc` (its whole process group with `group`), then SIGKILL after `grace` s."""
    if proc is None or proc.poll() is not None:
        return
    sig_send = (lambda s: os.killpg(proc.pid, s)) if group else proc.send_signal
    with contextlib.suppress(ProcessLookupError):
        sig_send(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            sig_send(signal.SIGKILL)
        proc.wait(timeout=grace)


class RedisServer:
    """A throwaway redis-server: no RDB, no AOF, so a restart really forgets every task."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        import redis

        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=1)
        wait_for(client.ping, 10, "redis-server")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        _stop(self.proc)


class Database:
    """A fresh PostgreSQL database for one run, dropped (connections and all) at the end."""

    def __init__(self, prefix: str) -> None:
        self.name = f"{prefix}_{os.getpid()}"
        admin = urlsplit(PG_ADMIN_URL)
        self.url = admin._replace(path=f"/{self.name}").geturl()

    def _admin(self):
        import psycopg

        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10)

    def create(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with contextlib.suppress(Exception), self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


_SEND_THREADS_SHIM = (
    "import sys, django; django.setup(); import comms.tasks as tasks; "
    "tasks.SEND_THREADS = int(sys.argv.pop(1)); sys.argv[0] = 'celery'; "
    "from celery.__main__ import main; main()"
)


@dataclass
class Worker:
    name: str
    concurrency: int
    env: dict[str, str]
    log_path: Path
    send_threads: int | None = None  # bench-only override of comms.tasks.SEND_THREADS
    proc: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        celery = [sys.executable, "-m", "celery"]
        if self.send_threads is not None:
            # Set before the pool forks, so every pool process inherits it.
            celery = [sys.executable, "-c", _SEND_THREADS_SHIM, str(self.send_threads)]
        # Own session, so a SIGKILL of the group takes the main process and its pool together.
        self.proc = subprocess.Popen(
            [*celery, "-A", "config", "worker", "--pool=prefork",
             f"--concurrency={self.concurrency}", "-n", f"{self.name}@%h", "--loglevel=WARNING",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.starts += 1

    def children(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def kill_all(self) -> None:
        """SIGKILL the worker and its pool at once (a machine or container dying)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill_child(self) -> bool:
        """SIGKILL one pool process (an OOM kill); the worker replaces it itself."""
        pids = self.children()
        if not pids:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(random.choice(pids), signal.SIGKILL)
        return True

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, group=True, grace=10)


@dataclass
class Stack:
    """Redis + a fresh database + FakeTwilio + Celery workers and beat, all on 127.0.0.1."""

    workers: int = 2
    concurrency: int = 2
    beat: bool = True
    sweep_interval_s: int = 2
    task_time_limit_s: int | None = 10  # None: the settings' default
    visibility_timeout_s: int | None = 60
    db_prefix: str = "clinic_chaos"
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clinic-bench-")))
    redis: RedisServer | None = None
    db: Database | None = None
    fake: Any = None
    pool: list[Worker] = field(default_factory=list)
    beat_proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)
    send_threads: int | None = None  # None: comms.tasks.SEND_THREADS as written
    keep_tmp: bool = False  # keep the logs in `tmp` (set when a run fails)
    t0: float = 0.0
    ready_s: float = 0.0  # seconds to start Redis, create and migrate the database

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        self.t0 = time.monotonic()
        self.redis = RedisServer(self.tmp)
        self.redis.start()
        self.db = Database(self.db_prefix)
        self.db.create()
        from tests.fakes.twilio_server import FakeTwilio

        self.fake = FakeTwilio().start()
        # A SIGKILLed worker resets its connection; http.server would print a traceback each.
        self.fake._server.handle_error = lambda request, address: None
        # http.server writes headers and body in two sends; with Nagle on, the client's delayed
        # ACK stalls every request ~40 ms (measured: 20 msg/s -> 585 msg/s for the bare client).
        # Real Twilio has no such stall, so the fake must not impose one on the benchmarks.
        self.fake._server.RequestHandlerClass.disable_nagle_algorithm = True
        self.env = {
            **os.environ,
            "DATABASE_URL": self.db.url,
            "REDIS_URL": self.redis.url,
            "SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": self.fake.account_sid,
            "TWILIO_AUTH_TOKEN": self.fake.auth_token,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE_URL": self.fake.url,
            "TWILIO_TIMEOUT": "5",
            "CLINIC_VAR_DIR": str(self.tmp / "var"),
            "OUTBOX_SWEEP_INTERVAL": str(self.sweep_interval_s),
            # No quiet hours (start == end): the run must not depend on the time of day.
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "00:00",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        for key, value in (
            ("CELERY_TASK_TIME_LIMIT", self.task_time_limit_s),
            ("CELERY_VISIBILITY_TIMEOUT", self.visibility_timeout_s),
        ):
            self.env.pop(key, None)
            if value is not None:
                self.env[key] = str(value)
        for key in ("CELERY_TASK_ALWAYS_EAGER", "EMAIL_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
            self.env.pop(key, None)
        # This process talks to the same database and broker as the workers.
        os.environ.update({k: v for k, v in self.env.items() if k not in ("PYTHONUNBUFFERED",)})
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        self.ready_s = time.monotonic() - self.t0
        for index in range(self.workers):
            worker = Worker(
                f"w{index + 1}",
                self.concurrency,
                self.env,
                self.tmp / f"worker{index + 1}.log",
                send_threads=self.send_threads,
            )
            worker.start()
            self.pool.append(worker)
        if self.beat:
            log = open(self.tmp / "beat.log", "ab")  # noqa: SIM115 - owned by the child
            self.beat_proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=WARNING",
                 "-s", str(self.tmp / "var" / "celerybeat-schedule")],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            log.close()

    def wait_for_workers(self, timeout: float = 60) -> None:
        from config.celery_app import app

        def all_up() -> bool:
            replies = app.control.ping(timeout=1.0) or []
            return len(replies) >= len(self.pool)

        wait_for(all_up, timeout, "celery workers", every=0.5)

    def restart_redis(self) -> None:
        assert self.redis is not None
        self.redis.kill()
        time.sleep(1.0)
        self.redis.start()

    def logs_tail(self, lines: int = 15) -> str:
        self.keep_tmp = True
        out = []
        for path in sorted(self.tmp.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def close(self) -> None:
        if self.beat_proc is not None:
            _stop(self.beat_proc, group=True)
        for worker in self.pool:
            with contextlib.suppress(Exception):
                worker.stop()
        if self.fake is not None:
            with contextlib.suppress(Exception):
                self.fake.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if self.db is not None:
            self.db.drop()
        if self.redis is not None:
            self.redis.stop()
        if self.keep_tmp:
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def seed_messages(count: int, prefix: str) -> tuple[list[int], dict[str, datetime]]:
    """Write `count` queued SMS reminder rows due now, one patient (and number) each.

    Returns (row ids, original due_at by key). Bulk inserts: this is setup, not the subject.
    """
    from django.utils import timezone

    from comms.models import OutboundMessage, Purpose, Status
    from scheduling.models import Location, Patient

    location = Location.objects.create(
        name=f"Bench {prefix}", address_line1="1 Main St", city="Springfield", time_zone="UTC"
    )
    patients = Patient.objects.bulk_create(
        [
            Patient(
                first_name=f"P{i}",
                last_name="Bench",
                date_of_birth="1980-01-01",
                phone=f"+1312{i:07d}",
                home_location=location,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    due = timezone.now()
    rows = OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                key=f"{prefix}:{i}",
                patient=patient,
                channel="sms",
                purpose=Purpose.REMINDER,
                recipient=str(patient.phone),
                body=f"Reminder {i}: your visit is on Tuesday at 10:30 AM, Riverside. "
                "Reply C to confirm. Reply STOP to opt out",
                status=Status.QUEUED,
                due_at=due,
                segments=1,
                encoding="GSM-7",
            )
            for i, patient in enumerate(patients)
        ],
        batch_size=1000,
    )
    return [row.pk for row in rows], {row.key: due for row in rows}


def script_failures(fake, count: int, rate: float, rng: random.Random) -> int:
    """Script ~`rate` of creates to fail (429, 500, or 500 after creating the message).

    Scripted per recipient, at most two failures each: the outbox's backoff grows to 180 s at
    the 4th attempt, so unbounded random failures would make the run's length a lottery.
    Returns how many failures were scripted.
    """
    from tests.fakes.twilio_server import Script

    kinds = [
        Script.error(429, 20429, "Too Many Requests"),
        Script.error(500, None, "Internal Server Error"),
        Script(status=500, message="Internal Server Error", create=True),
    ]
    scripted = 0
    for i in range(count):
        failures = []
        while len(failures) < 2 and rng.random() < rate:
            failures.append(rng.choice(kinds))
        if failures:
            fake.script(*failures, to=f"+1312{i:07d}")
            scripted += len(failures)
    return scripted


def outbox_keys_at_fake(fake) -> Counter:
    """How many messages the fake holds per outbox key (from each StatusCallback URL)."""
    keys: Counter = Counter()
    for message in fake.messages:
        query = parse_qs(urlsplit(message["status_callback"] or "").query)
        keys[(query.get("outbox_key") or [""])[0]] += 1
    return keys


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def publish_fast_path(ids: list[int]) -> None:
    from comms.tasks import dispatch_message

    for message_id in ids:
        dispatch_message.delay(message_id)


def status_counts() -> dict[str, int]:
    from django.db.models import Count

    from comms.models import OutboundMessage

    return dict(OutboundMessage.objects.values_list("status").annotate(n=Count("pk")).order_by())


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    started = time.monotonic()
    with Stack(workers=2, concurrency=2) as stack:
        try:
            return _chaos(stack, args, rng, started)
        except BaseException:
            print(stack.logs_tail(), file=sys.stderr)
            raise


def _chaos(stack: Stack, args: argparse.Namespace, rng: random.Random, t0: float) -> dict:
    from comms.models import TERMINAL, MessageEvent, OutboundMessage, Status

    stack.wait_for_workers()
    injected = script_failures(stack.fake, args.messages, args.failure_rate, rng)
    ids, due_by_key = seed_messages(args.messages, "chaos")
    publish_fast_path(ids[::2])  # what enqueue does after commit; the sweep has the rest
    kills = redis_restarts = 0
    terminal_names = [str(s) for s in TERMINAL]
    chaos_from = time.monotonic()
    deadline = chaos_from + args.max_wait
    next_kill = chaos_from + args.kill_every
    log(
        args,
        f"setup {stack.ready_s:.0f} s (migrate), workers up at {time.monotonic() - t0:.0f} s; "
        f"seeded {args.messages} rows; {injected} provider failures scripted",
    )
    while time.monotonic() < deadline:
        counts = status_counts()
        done = sum(n for s, n in counts.items() if s in terminal_names)
        if done >= args.messages:
            break
        # Chaos lasts while first attempts are still going out, and at least --chaos-seconds;
        # after that, recovery is only watched.
        elapsed = time.monotonic() - chaos_from
        untouched = OutboundMessage.objects.filter(status=Status.QUEUED, attempts=0).exists()
        chaos = untouched or elapsed < args.chaos_seconds
        if not redis_restarts and (done >= args.messages // 3 or not untouched):
            log(args, f"restarting redis; {done} terminal")
            stack.restart_redis()
            redis_restarts += 1
        elif chaos and time.monotonic() >= next_kill:
            worker = rng.choice(stack.pool)
            if kills % 2 == 0:
                worker.kill_all()
                worker.start()
                killed = True
            else:
                killed = worker.kill_child()  # False while its pool is still starting
            if killed:
                kills += 1
                next_kill = time.monotonic() + args.kill_every
                log(args, f"kill {kills} ({worker.name}); {done} terminal, {counts}")
        time.sleep(0.25)
    seconds = time.monotonic() - t0
    at_fake = outbox_keys_at_fake(stack.fake)
    rows = list(OutboundMessage.objects.values_list("key", "status", "sent_at"))
    sent_states = {Status.SENT, Status.DELIVERED}
    lost = sum(1 for key, _, _ in rows if at_fake[key] == 0)
    duplicates = sum(n - 1 for n in at_fake.values() if n > 1)
    terminal = sum(1 for _, status, _ in rows if status in TERMINAL)
    unrecorded = sum(1 for key, status, _ in rows if at_fake[key] and status not in sent_states)
    latencies = [
        (sent_at - due_by_key[key]).total_seconds() for key, status, sent_at in rows if sent_at
    ]
    events = Counter(MessageEvent.objects.values_list("kind", flat=True))
    return {
        "lost": lost,
        "duplicates": duplicates,
        "terminal": terminal,
        "p50_s": round(percentile(latencies, 0.50), 2),
        "p99_s": round(percentile(latencies, 0.99), 2),
        "messages": args.messages,
        "kills": kills,
        "redis_restarts": redis_restarts,
        "seconds": round(seconds, 1),
        "setup_s": round(stack.ready_s, 1),
        "unfinished": len(rows) - terminal,  # still queued/sending when the wait ran out
        "sent_rows": sum(1 for _, status, _ in rows if status in sent_states),
        "not_recorded_as_sent": unrecorded,
        "statuses": status_counts(),
        "provider_creates": sum(at_fake.values()),
        "provider_failures_scripted": injected,
        "retries": events.get("retry", 0),
        "leases_expired": events.get("lease_expired", 0),
        "found_at_provider": events.get("found_at_provider", 0),
        "mean_latency_s": round(statistics.fmean(latencies), 2) if latencies else None,
    }


def log(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def print_table(result: dict[str, Any]) -> None:
    rows = [
        ("messages", result["messages"]),
        ("lost", result["lost"]),
        ("duplicates", result["duplicates"]),
        ("terminal", result["terminal"]),
        ("unfinished (wait ran out)", result["unfinished"]),
        ("sent rows", result["sent_rows"]),
        ("at provider, not recorded sent", result["not_recorded_as_sent"]),
        ("worker kills (SIGKILL)", result["kills"]),
        ("redis restarts", result["redis_restarts"]),
        ("provider failures scripted", result["provider_failures_scripted"]),
        ("retries recorded", result["retries"]),
        ("leases expired (relay)", result["leases_expired"]),
        ("found at provider, not re-sent", result["found_at_provider"]),
        ("latency p50 due->sent (s)", result["p50_s"]),
        ("latency p99 due->sent (s)", result["p99_s"]),
        ("wall time (s)", result["seconds"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills")
    parser.add_argument("--failure-rate", type=float, default=0.2, help="share of creates failing")
    parser.add_argument(
        "--chaos-seconds", type=float, default=30.0, help="kill for at least this long"
    )
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--max-wait", type=float, default=None, help="seconds (default scales)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.max_wait is None:
        # Lease recovery alone takes ~70 s; the rest scales with the backlog at >= 20 msg/s.
        args.max_wait = 300 + args.messages / 20
    # SIGTERM (e.g. a CI timeout) unwinds through the finally blocks that drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args)
    print_table(result)
    if args.json:
        print(json.dumps(result))
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["terminal"] == args.messages
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

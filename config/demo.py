"""`make demo`: migrate, seed the demo clinic, create logins, run web + worker + beat.

Safe to run again: migrations and seeding skip what exists. Ctrl-C stops every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "clinic-demo"  # noqa: S105 - printed on the terminal on purpose
USERS = [("admin", None), ("frontdesk", "Front desk"), ("manager", "Manager")]


def prepare() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from scheduling.demo import seed_clinic

    counts = seed_clinic()
    print(
        f"demo clinic: {counts['patients']} patients, {counts['appointments']} appointments"
        + ("" if counts["created"] else " (already there)")
    )
    for hook in demo_hooks():
        hook()
    for username, group in USERS:
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = True
            user.is_superuser = group is None
            user.save()
        if group:
            user.groups.add(Group.objects.get(name=group))
    from surveys.demo import assign_managers  # the manager login exists only now

    assign_managers()
    from comms.llm_tasks import demo_drafting  # LLM wording for approval, or templates only

    print(demo_drafting())


def demo_hooks() -> list:
    """Each app's demo seeding step, in dependency order (config may import every app)."""
    hooks = []
    for module_name in ("comms.demo", "surveys.demo"):
        try:
            module = __import__(module_name, fromlist=["seed"])
        except ModuleNotFoundError:
            continue
        hooks.append(module.seed)
    return hooks


def run(port: int = 8000) -> int:
    python = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    commands = [
        [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--beat",
            "--loglevel=INFO",
            "--concurrency=2",
            "-n",
            "demo@%h",
        ],
    ]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True) for cmd in commands]
    print(f"\nClinic Comms demo: http://127.0.0.1:{port}/admin/")
    print(f"  logins: admin / frontdesk / manager, password '{DEMO_PASSWORD}'")
    print("  SMS go to var/outbox-sms.jsonl, e-mail to var/outbox-mail/. Ctrl-C stops it all.\n")

    def stop(*_args) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()  # the worker shuts its own pool down warmly

    # Handle both signals explicitly: a process started in the background inherits SIGINT
    # ignored, and then Ctrl-C (or `kill -INT`) would leave web and worker running.
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stopping.set())
    signal.signal(signal.SIGTERM, lambda *a: stopping.set())
    try:
        while not stopping.is_set() and all(proc.poll() is None for proc in procs):
            stopping.wait(0.5)
    finally:
        stop()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    prepare()
    if "--prepare-only" not in sys.argv:
        sys.exit(run(int(os.environ.get("DEMO_PORT", "8000"))))

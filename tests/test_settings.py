"""Settings read the environment; malformed values stop start-up naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent


def test_database_urls():
    pg = env.database_from_url(
        "DATABASE_URL", "postgres://u:p%40ss@db.example:6543/clinic", sqlite_default="x"
    )
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "clinic",
        "u",
        "p@ss",
        "db.example",
        "6543",
    )
    assert env.database_from_url("DATABASE_URL", "", sqlite_default="d.sqlite3")["NAME"] == (
        "d.sqlite3"
    )
    assert (
        env.database_from_url("DATABASE_URL", "sqlite:////tmp/a.db", sqlite_default="x")["NAME"]
        == "/tmp/a.db"
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("DATABASE_URL", "postgres://localhost:notaport/x"),
        ("REDIS_URL", "http://localhost:6379"),
        ("DJANGO_DEBUG", "maybe"),
        ("CLINIC_TIME_ZONE", "Mars/Olympus"),
        ("SMS_CAP_PER_DAY", "one"),
        ("QUIET_HOURS_START", "25:00"),
        ("EMAIL_URL", "pigeon://coop"),
        ("OPENAI_TIMEOUT", "120"),
    ],
)
def test_malformed_value_stops_start_up_naming_the_variable(variable, value, tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    environment.update(
        {
            variable: value,
            "CLINIC_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_embedded_defaults_need_no_services(tmp_path):
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "TWILIO_", "OPENAI_"))
    }
    environment.update(
        {"CLINIC_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    )
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.EMAIL_BACKEND, "
        "s.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "filesystem://",
        "django.core.mail.backends.filebased.EmailBackend",
        "True",
    ]


def test_env_readers_raise_improperly_configured(monkeypatch):
    monkeypatch.setenv("X_INT", "12a")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "3")
    with pytest.raises(ImproperlyConfigured, match="at least 5"):
        env.env_int("X_INT", 1, minimum=5)
    monkeypatch.setenv("X_MAIL", "smtp+tls://u:p@mail.example")
    mail = env.email_from_url("X_MAIL", os.environ["X_MAIL"], file_path="f")
    assert (mail.host, mail.port, mail.use_tls) == ("mail.example", 587, True)


def test_env_example_documents_every_variable():
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    source = (ROOT / "config" / "settings.py").read_text()
    import re

    used = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', source))
    used |= set(
        re.findall(r'(?:redis_url|email_from_url|database_from_url)\(\s*"([A-Z_]+)"', source)
    )
    assert used, "the settings read no variables?"
    assert used <= documented, sorted(used - documented)

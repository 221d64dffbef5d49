"""Typed readers for environment variables that fail loudly on malformed values.

Every setting of the project is read through these functions so that a mistyped value stops
start-up with a message naming the variable, instead of surfacing later as a strange error.
"""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"{name}={value!r} is not an IANA time zone.") from None
    return value


def env_hhmm(name: str, default: str) -> tuple[int, int]:
    """A local clock time written HH:MM, as (hour, minute)."""
    value = env_str(name, default)
    try:
        hour, minute = (int(part) for part in value.split(":"))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a time written HH:MM.") from None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ImproperlyConfigured(f"{name}={value!r} is not a time of day.")
    return hour, minute


def database_from_url(name: str, url: str, *, sqlite_default: str) -> dict:
    """Django DATABASES['default'] from a URL: postgres://user:pass@host:port/db or sqlite:///path."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_default,
            "OPTIONS": {"timeout": 20},
        }
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        db_name = unquote(parts.path.lstrip("/"))
        if not db_name:
            raise ImproperlyConfigured(f"{name}={url!r} names no database (…/DBNAME).")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}={url!r} has an invalid port.") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db_name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    if parts.scheme == "sqlite":
        path = url.split("sqlite://", 1)[1]
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel, sqlite:////abs
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path or sqlite_default,
            "OPTIONS": {"timeout": 20},
        }
    raise ImproperlyConfigured(
        f"{name}={url!r}: unsupported scheme {parts.scheme!r} (use postgres:// or sqlite:///)."
    )


@dataclass(frozen=True)
class EmailSettings:
    backend: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False


def email_from_url(name: str, url: str, *, file_path: str) -> EmailSettings:
    """EMAIL_URL: smtp://user:pass@host:port, smtp+tls://…, smtp+ssl://…, console://, file://."""
    if not url or url == "file://":
        return EmailSettings(
            backend="django.core.mail.backends.filebased.EmailBackend", host=file_path
        )
    parts = urlsplit(url)
    if parts.scheme == "console":
        return EmailSettings(backend="django.core.mail.backends.console.EmailBackend")
    if parts.scheme in {"smtp", "smtp+tls", "smtp+ssl"}:
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}={url!r} has an invalid port.") from None
        if not parts.hostname:
            raise ImproperlyConfigured(f"{name}={url!r} names no host.")
        return EmailSettings(
            backend="django.core.mail.backends.smtp.EmailBackend",
            host=parts.hostname,
            port=port
            or (465 if parts.scheme == "smtp+ssl" else 587 if "tls" in parts.scheme else 25),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            use_tls=parts.scheme == "smtp+tls",
            use_ssl=parts.scheme == "smtp+ssl",
        )
    raise ImproperlyConfigured(
        f"{name}={url!r}: unsupported scheme (use smtp://, smtp+tls://, smtp+ssl://, console://)."
    )


def redis_url(name: str) -> str:
    value = env_str(name)
    if value and urlsplit(value).scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured(f"{name}={value!r} is not a redis:// or rediss:// URL.")
    return value

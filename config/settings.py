"""Clinic Comms settings: everything comes from the environment; nothing set means embedded.

With no variable set the project runs on a laptop with nothing installed: SQLite, a Celery broker
on the filesystem (a real worker and beat, no server), console/file delivery channels and the
template writer. `.env.example` documents every variable.
"""

from __future__ import annotations

from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    database_from_url,
    email_from_url,
    env_bool,
    env_hhmm,
    env_int,
    env_list,
    env_str,
    env_time_zone,
    redis_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CLINIC_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-dev-key-only-for-the-embedded-demo"  # noqa: S105
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# The public base URL patients' links and Twilio callbacks use (and signatures are checked
# against): behind a proxy the URL Django sees is not the one Twilio signed.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "phonenumber_field",
    "scheduling",
    "comms",
    "surveys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        "DATABASE_URL", env_str("DATABASE_URL"), sqlite_default=str(VAR_DIR / "clinic.sqlite3")
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # PostgreSQL's default random_page_cost (4.0) models spinning disks; on SSD it makes the
    # planner scan whole tables the dashboard's covering indexes answer (bench/README.dashboard.md).
    _page_cost = env_str("PG_RANDOM_PAGE_COST", "1.1")
    try:
        float(_page_cost)
    except ValueError:
        raise ImproperlyConfigured(f"PG_RANDOM_PAGE_COST={_page_cost!r} is not a number.") from None
    DATABASES["default"]["OPTIONS"].setdefault("options", f"-c random_page_cost={_page_cost}")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"  # storage; pages show each location's or patient's own zone
USE_I18N = True
USE_TZ = True
# The zone admin forms read a typed time in when no location is chosen yet.
CLINIC_TIME_ZONE = env_time_zone("CLINIC_TIME_ZONE", "America/Chicago")

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []

PHONENUMBER_DEFAULT_REGION = env_str("PHONENUMBER_DEFAULT_REGION", "US")
PHONENUMBER_DB_FORMAT = "E164"

# --- Celery -------------------------------------------------------------------------------------
REDIS_URL = redis_url("REDIS_URL")
TASK_TIME_LIMIT_S = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=10)
# Redis redelivers an unacknowledged message after the visibility timeout: it must exceed the
# longest task and any countdown we ever use, or a task runs twice (FACTS.md).
BROKER_VISIBILITY_TIMEOUT_S = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
if BROKER_VISIBILITY_TIMEOUT_S <= TASK_TIME_LIMIT_S:
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT."
    )
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT_S}
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT_S}
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
    CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task whose pool process died is retried like `retry()`, so max_retries bounds the re-runs.
CELERY_TASK_RETRY_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT_S
CELERY_TASK_SOFT_TIME_LIMIT = TASK_TIME_LIMIT_S - 5
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
HEARTBEAT_INTERVAL_S = env_int("HEARTBEAT_INTERVAL", 60, minimum=5)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "comms.tasks.heartbeat", "schedule": float(HEARTBEAT_INTERVAL_S)},
    # The outbox sweep: due messages, retries and rows whose worker died.
    "dispatch-due": {
        "task": "comms.tasks.dispatch_due",
        "schedule": float(env_int("OUTBOX_SWEEP_INTERVAL", 30, minimum=1)),
    },
    # The managers' weekly report per location (surveys.reports): Mondays 07:00 UTC.
    "weekly-reports": {
        "task": "surveys.report_tasks.send_weekly_reports",
        "schedule": crontab(minute=0, hour=7, day_of_week="mon"),
    },
    # Survey reminders to non-responders, expiry, invitation status, unsent manager alerts.
    "survey-sweep": {"task": "surveys.tasks.survey_sweep", "schedule": 900.0},
    # Waitlist offers: expire stale ones, send the next batch of a freed slot.
    "advance-offers": {"task": "comms.offer_tasks.advance_offers", "schedule": 60.0},
    # The dashboard's roll-ups are kept by the write paths; this nightly recount of the last two
    # weeks repairs whatever bypassed them (bulk imports, raw SQL). 02:30 UTC.
    "rebuild-rollups": {
        "task": "surveys.tasks.rebuild_rollups",
        "schedule": crontab(minute=30, hour=2),
    },
}

# --- Delivery channels --------------------------------------------------------------------------
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL")  # tests/self-hosted fakes only
TWILIO_TIMEOUT_S = env_int("TWILIO_TIMEOUT", 10, minimum=1)
_email = email_from_url("EMAIL_URL", env_str("EMAIL_URL"), file_path=str(VAR_DIR / "outbox-mail"))
EMAIL_BACKEND = _email.backend
if _email.backend.endswith("filebased.EmailBackend"):
    EMAIL_FILE_PATH = _email.host
else:
    EMAIL_HOST, EMAIL_PORT = _email.host, _email.port
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email.user, _email.password
    EMAIL_USE_TLS, EMAIL_USE_SSL = _email.use_tls, _email.use_ssl
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Clinic Comms <noreply@clinic.example>")
# twilio: real SMS; file: one JSON line per message in SMS_FILE_PATH (the embedded demo);
# disabled: SMS are skipped with that reason.
SMS_BACKEND = env_str("SMS_BACKEND", "twilio" if TWILIO_ACCOUNT_SID else "file")
if SMS_BACKEND not in {"twilio", "file", "disabled"}:
    raise ImproperlyConfigured(f"SMS_BACKEND={SMS_BACKEND!r}: use twilio, file or disabled.")
# Where the demo's console/file SMS channel writes one JSON line per message.
SMS_FILE_PATH = env_str("SMS_FILE_PATH", str(VAR_DIR / "outbox-sms.jsonl"))

# --- Patient protections (defaults; locations may override) -------------------------------------
QUIET_HOURS_START = env_hhmm("QUIET_HOURS_START", "21:00")
QUIET_HOURS_END = env_hhmm("QUIET_HOURS_END", "08:00")
SMS_CAP_PER_DAY = env_int("SMS_CAP_PER_DAY", 1, minimum=0)
SMS_CAP_PER_WEEK = env_int("SMS_CAP_PER_WEEK", 3, minimum=0)
SURVEY_MIN_DAYS_BETWEEN = env_int("SURVEY_MIN_DAYS_BETWEEN", 90, minimum=0)
# Waitlist offers for a freed slot: how many candidates per batch, how long an offer holds.
COMMS_OFFER_BATCH = env_int("COMMS_OFFER_BATCH", 3, minimum=1)
COMMS_OFFER_TTL_MINUTES = env_int("COMMS_OFFER_TTL_MINUTES", 120, minimum=5)
SURVEY_DELAY_HOURS = env_int("SURVEY_DELAY_HOURS", 2, minimum=0)
SURVEY_LINK_DAYS = env_int("SURVEY_LINK_DAYS", 14, minimum=1)

# --- LLM writer ---------------------------------------------------------------------------------
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_TIMEOUT_S = env_int("OPENAI_TIMEOUT", 30, minimum=1)
if OPENAI_TIMEOUT_S > 30:
    raise ImproperlyConfigured("OPENAI_TIMEOUT must be at most 30 seconds.")
LLM_ALLOW_FIRST_NAME = env_bool("LLM_ALLOW_FIRST_NAME", False)

# --- Logging: ids only, never names, numbers or bodies ------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # urllib3 logs full URLs at DEBUG, and Twilio's list URLs carry the patient's number.
    "loggers": {"urllib3": {"level": "WARNING"}, "twilio": {"level": "WARNING"}},
}

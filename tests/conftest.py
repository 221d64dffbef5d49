"""Suite-wide fixtures and the rule that PostgreSQL/Redis tests never silently skip in CI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection

from tests import factories

IN_CI = bool(os.environ.get("CI"))

# Suite-wide: no prompt a test sends to the fake LLM may carry a fixture patient's identifier.
pytest_plugins = ["tests.fakes.llm_guard"]


def _redis_available() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        message = "needs PostgreSQL: set DATABASE_URL=postgres://…"
        if IN_CI:
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)
    if item.get_closest_marker("redis") and not _redis_available():
        message = "needs Redis: set REDIS_URL=redis://… to a running server"
        if IN_CI:
            pytest.fail(message + " (CI is set, so this fails instead of skipping)")
        pytest.skip(message)


# Data the migrations create (groups and rights, the reminder cadence, the standard survey).
# A transactional test's flush wipes it; tests that need it ask for `migration_data`.
DATA_MIGRATIONS = [
    "scheduling.migrations.0003_groups",
    "comms.migrations.0003_default_rules_and_groups",
    "comms.migrations.0006_offer_and_llm_rights",
    "surveys.migrations.0002_standard_survey",
]


@pytest.fixture
def migration_data(django_db_blocker) -> None:
    """Re-run the data migrations (each is idempotent) against the live app registry."""
    import importlib

    from django.apps import apps
    from django.db.migrations import RunPython

    with django_db_blocker.unblock():
        for name in DATA_MIGRATIONS:
            for operation in importlib.import_module(name).Migration.operations:
                if isinstance(operation, RunPython):
                    operation.code(apps, None)


@pytest.fixture
def smtp(settings):
    """A real SMTP server on loopback, with Django's mail (and the e-mail channel) pointed at it."""
    from comms import delivery
    from tests.fakes.smtp_server import FakeSMTP

    with FakeSMTP() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        delivery.reset()
        yield server
    delivery.reset()


@pytest.fixture
def desk(client, django_user_model):
    """A logged-in member of the "Front desk" group."""
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("desk", password="pw-123456", is_staff=True)
    user.groups.add(Group.objects.get(name="Front desk"))
    client.force_login(user)
    return client


@dataclass
class Clinic:
    """A small clinic: one Chicago location, one provider working weekdays 08-17, lunch 12-13."""

    location: object
    specialty: object
    provider: object
    visit: object
    patient: object

    def next_weekday(self, weekday: int = 0, weeks_ahead: int = 1) -> date:
        today = date.today()
        return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)

    def at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.location.zone)


@pytest.fixture
def clinic(db) -> Clinic:
    location = factories.LocationFactory(name="Riverside")
    specialty = factories.SpecialtyFactory(name="Family Medicine")
    provider = factories.ProviderFactory(
        specialty=specialty, locations=[location], first_name="Elena", last_name="Ortiz"
    )
    for weekday in range(5):
        hours = factories.WorkingHoursFactory(provider=provider, location=location, weekday=weekday)
        hours.breaks.create(start_time=time(12), end_time=time(13), label="Lunch")
    visit = factories.AppointmentTypeFactory(
        name="Follow-up", duration_minutes=30, buffer_after_minutes=10, specialties=[specialty]
    )
    patient = factories.PatientFactory(
        home_location=location, first_name="Ana", last_name="Quintero"
    )
    return Clinic(location, specialty, provider, visit, patient)

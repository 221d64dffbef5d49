"""Every admin page opens; changelists make a bounded number of queries whatever their size."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling import services
from tests import factories

pytestmark = pytest.mark.django_db

MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


def _url(model, view: str) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_search_and_add_pages_open(admin_client, clinic, model):
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    response = admin_client.get(_url(model, "changelist"), {"q": "Ortiz"})
    assert response.status_code == 200
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(type("R", (), {"user": admin_client.user})()):
        assert admin_client.get(_url(model, "add")).status_code == 200


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-123456")
    client.force_login(user)
    client.user = user
    return client


def _fill(clinic, count: int) -> None:
    day = clinic.next_weekday(0)
    for i in range(count):
        patient = factories.PatientFactory(home_location=clinic.location)
        services.book(
            patient=patient,
            provider=clinic.provider,
            location=clinic.location,
            appointment_type=clinic.visit,
            start=clinic.at(day, time(8)) + i * timedelta(minutes=40),
        )
        factories.PatientFactory(home_location=clinic.location)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_query_count_does_not_grow_with_rows(admin_client, clinic, model):
    _fill(clinic, 3)
    admin_client.get(_url(model, "changelist"))  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(_url(model, "changelist")).status_code == 200
    day = clinic.next_weekday(1)
    for i in range(6):
        patient = factories.PatientFactory(home_location=clinic.location)
        services.book(
            patient=patient,
            provider=clinic.provider,
            location=clinic.location,
            appointment_type=clinic.visit,
            start=clinic.at(day, time(8)) + i * timedelta(minutes=40),
        )
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert len(many) <= len(few), [q["sql"] for q in many.captured_queries]

"""Survey fixtures: completed visits, their invitations and links, a manager, eager tasks and a
real SMTP server on loopback."""

from __future__ import annotations

from datetime import time

import pytest
from django.urls import reverse

from scheduling import services
from scheduling.links import make_token
from scheduling.models import AppointmentStatus
from surveys.models import Invitation, LocationManager
from tests import factories


def past_visit(clinic, patient=None, clock: time = time(9)):
    """Book a visit in the past week and mark it completed (which invites the patient)."""
    day = clinic.next_weekday(0, weeks_ahead=-1)
    appointment = services.book(
        patient=patient or clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(day, clock),
        allow_past=True,
    )
    return services.mark_outcome(appointment, outcome=AppointmentStatus.COMPLETED)


def page_path(invitation: Invitation) -> str:
    return reverse("surveys:survey", args=[make_token("survey", invitation.pk)])


@pytest.fixture
def invitation(clinic) -> Invitation:
    return Invitation.objects.get(appointment=past_visit(clinic))


@pytest.fixture
def manager(clinic, django_user_model) -> LocationManager:
    user = django_user_model.objects.create_user(
        "lead", "lead@clinic.example", "pw-123456", is_staff=True
    )
    return LocationManager.objects.create(user=user, location=clinic.location)


@pytest.fixture
def eager_tasks():
    """Run Celery tasks inline (the managers' alert), as a worker would after commit."""
    from config.celery_app import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def spanish_patient(clinic):
    return factories.PatientFactory(
        home_location=clinic.location,
        first_name="Lucía",
        last_name="Fernández",
        preferred_language="es",
    )

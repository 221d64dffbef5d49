"""Concurrent transactions racing for one slot on PostgreSQL: exactly one wins."""

from __future__ import annotations

import threading
from datetime import time

import pytest
from django.db import IntegrityError, connection, transaction

from scheduling import services
from scheduling.models import Appointment, AppointmentStatus
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 8


def race(target, count: int) -> list:
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = target(index)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_many_patients_race_for_one_providers_slot(clinic):
    start = clinic.at(clinic.next_weekday(0), time(10))
    patients = [factories.PatientFactory(home_location=clinic.location) for _ in range(RACERS)]

    def attempt(index: int):
        return services.book(
            patient=patients[index],
            provider=clinic.provider,
            location=clinic.location,
            appointment_type=clinic.visit,
            start=start,
            actor=f"racer {index}",
        )

    outcomes = race(attempt, RACERS)
    winners = [o for o in outcomes if isinstance(o, Appointment)]
    losers = [o for o in outcomes if isinstance(o, services.SchedulingError)]
    assert len(winners) == 1, outcomes
    assert len(losers) == RACERS - 1, outcomes
    assert {loser.code for loser in losers} <= {"provider_busy", "slot_taken"}
    assert Appointment.objects.filter(provider=clinic.provider).count() == 1


def test_one_patient_races_to_two_providers_at_once(clinic):
    day = clinic.next_weekday(0)
    providers = [clinic.provider]
    for _ in range(3):
        other = factories.ProviderFactory(specialty=clinic.specialty, locations=[clinic.location])
        factories.WorkingHoursFactory(
            provider=other, location=clinic.location, weekday=day.weekday()
        )
        providers.append(other)

    def attempt(index: int):
        return services.book(
            patient=clinic.patient,
            provider=providers[index],
            location=clinic.location,
            appointment_type=clinic.visit,
            start=clinic.at(day, time(10, 5 * index)),
            actor="racer",
        )

    outcomes = race(attempt, len(providers))
    assert sum(isinstance(o, Appointment) for o in outcomes) == 1, outcomes
    assert Appointment.objects.filter(patient=clinic.patient).count() == 1


def test_database_refuses_overlap_even_past_the_services(clinic):
    """The exclusion constraint catches a writer that skips the service checks."""
    day = clinic.next_weekday(0)
    first = services.book(
        patient=clinic.patient,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=clinic.at(day, time(9)),
    )
    other = factories.PatientFactory(home_location=clinic.location)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            patient=other,
            provider=clinic.provider,
            location=clinic.location,
            appointment_type=clinic.visit,
            start=first.start,
            end=first.end,
            blocked_until=first.blocked_until,
        )
    # A cancelled visit no longer holds the slot.
    services.cancel(first, reason="moved away")
    Appointment.objects.create(
        patient=other,
        provider=clinic.provider,
        location=clinic.location,
        appointment_type=clinic.visit,
        start=first.start,
        end=first.end,
        blocked_until=first.blocked_until,
        status=AppointmentStatus.BOOKED,
    )

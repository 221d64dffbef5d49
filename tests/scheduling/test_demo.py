"""The demo clinic is consistent (no overlaps, valid phones) and seeding twice is safe."""

from __future__ import annotations

from collections import defaultdict

import phonenumbers
import pytest

from scheduling.demo import seed_clinic
from scheduling.models import Appointment, AppointmentStatus, Location, Patient

pytestmark = pytest.mark.django_db


def test_seed_is_consistent_and_idempotent():
    first = seed_clinic(patients=150, weeks=1, seed=3)
    assert first["created"] == 1 and first["patients"] == 150
    assert Location.objects.values("time_zone").distinct().count() == 2
    assert Patient.objects.filter(preferred_language="es").exists()
    by_provider = defaultdict(list)
    for a in Appointment.objects.exclude(status=AppointmentStatus.CANCELLED):
        by_provider[a.provider_id].append((a.start, a.blocked_until))
    for spans in by_provider.values():
        spans.sort()
        assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:], strict=False))
    assert all(phonenumbers.is_valid_number(p.phone) for p in Patient.objects.all()[:50])
    again = seed_clinic(patients=150, weeks=1, seed=3)
    assert again["created"] == 0 and Patient.objects.count() == 150

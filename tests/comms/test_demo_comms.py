"""The demo plans reminders for its clinic, and doing it twice adds nothing."""

from __future__ import annotations

import pytest

from comms import demo
from comms.models import OutboundMessage, Purpose
from scheduling.demo import seed_clinic

pytestmark = pytest.mark.django_db


def test_demo_plans_reminders_once(capsys):
    seed_clinic(patients=60, weeks=1, seed=5)  # about 600 upcoming visits
    demo.seed(limit=40)
    planned = OutboundMessage.objects.filter(purpose=Purpose.REMINDER)
    assert planned.exists()
    assert planned.filter(language="es").exists()
    count = planned.count()
    demo.seed(limit=40)
    assert planned.count() == count
    assert "reminders planned" in capsys.readouterr().out

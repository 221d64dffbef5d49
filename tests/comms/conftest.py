"""Comms fixtures: the real twilio client against a loopback fake, a real SMTP server."""

from __future__ import annotations

import pytest

from comms import delivery
from tests.fakes.twilio_server import FakeTwilio

FROM_NUMBER = "+13125550100"


@pytest.fixture
def twilio(settings):
    with FakeTwilio() as fake:
        fake.configure(settings, from_number=FROM_NUMBER)
        yield fake
    delivery.reset()

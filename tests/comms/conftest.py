"""Comms fixtures: the real twilio client against a loopback fake, a real SMTP server."""

from __future__ import annotations

import pytest

from comms import delivery
from tests.fakes.twilio_server import FakeTwilio

FROM_NUMBER = "+13125550100"


@pytest.fixture
def twilio(settings):
    with FakeTwilio() as fake:
        settings.TWILIO_ACCOUNT_SID = fake.account_sid
        settings.TWILIO_AUTH_TOKEN = fake.auth_token
        settings.TWILIO_FROM_NUMBER = FROM_NUMBER
        settings.TWILIO_API_BASE_URL = fake.url
        settings.TWILIO_TIMEOUT_S = 2
        settings.SMS_BACKEND = "twilio"
        delivery.reset()
        yield fake
    delivery.reset()

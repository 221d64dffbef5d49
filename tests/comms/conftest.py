"""Comms fixtures: the real twilio client against a loopback fake, a real SMTP server."""

from __future__ import annotations

import pytest

from comms import delivery
from tests.fakes.smtp_server import FakeSMTP
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


@pytest.fixture
def smtp(settings):
    with FakeSMTP() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        delivery.reset()
        yield server
    delivery.reset()

"""Suite-wide guard: no prompt that reached the fake LLM may carry a patient identifier.

Use the helper directly, or the fixtures (``pytest_plugins = ["tests.fakes.llm_guard"]``):

    def test_reminder(fake_openai, llm_guard, patient):
        llm_guard.append(patient_identifiers(patient))   # checked after the test
        ...

Loaded as a plugin (tests/conftest.py does), it also guards the whole suite: every FakeOpenAI
started during a test registers itself, and once the test body has run (its database still
there) each prompt those servers received is checked against every Patient in the test
database. A hit fails the test, naming the request and the kinds of identifier, never values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from django.db import DatabaseError

from comms.privacy import IdentifierLeak, PatientIdentifiers, check_prompt
from tests.fakes.openai_server import FakeOpenAI

__all__ = [
    "assert_no_identifiers",
    "database_patient_identifiers",
    "fake_openai",
    "llm_guard",
    "started_fakes",
]

# Every FakeOpenAI started since the current test's setup began (cleared per test).
_STARTED: list[FakeOpenAI] = []
_original_start = FakeOpenAI.start


def _registering_start(self: FakeOpenAI) -> FakeOpenAI:
    _STARTED.append(self)
    return _original_start(self)


# Registration wraps start() rather than living in the server, so the fake stays usable
# (and unchanged) outside pytest, e.g. in bench/writer.py.
FakeOpenAI.start = _registering_start  # type: ignore[method-assign]


def started_fakes() -> list[FakeOpenAI]:
    """The fake servers started during the current test (setup included)."""
    return list(_STARTED)


def assert_no_identifiers(
    requests: Iterable[dict[str, Any]],
    identifiers: Iterable[PatientIdentifiers],
    *,
    allow_first_name: bool = False,
) -> None:
    """Fail if any recorded request's messages contain an identifier (or an email/phone shape).

    The failure names the request index and the kinds found, never the values.
    """
    identifiers = list(identifiers)
    for index, body in enumerate(requests):
        try:
            check_prompt(body.get("messages", []), identifiers, allow_first_name=allow_first_name)
        except IdentifierLeak as leak:
            raise AssertionError(
                f"LLM request #{index} carried identifiers: {leak.kinds}"
            ) from None


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started loopback OpenAI server, stopped after the test."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm_guard(fake_openai: FakeOpenAI) -> Iterator[list[PatientIdentifiers]]:
    """Append the identifiers of every patient the test touches; checked at teardown."""
    watched: list[PatientIdentifiers] = []
    yield watched
    assert_no_identifiers(fake_openai.requests, watched)


def database_patient_identifiers() -> list[PatientIdentifiers]:
    """Identifiers of every Patient in the test database ([] if the test has no database).

    The home location's address is the clinic's, not the patient's, so it is not included.
    """
    from scheduling.models import Patient

    fields = ("first_name", "last_name", "phone", "email", "date_of_birth", "record_number")
    try:
        rows = list(Patient.objects.values_list(*fields))
    except (RuntimeError, DatabaseError):
        return []  # the test has no database access (pytest-django blocks it)
    return [
        PatientIdentifiers(
            first_name=first or "",
            last_name=last or "",
            phone=str(phone or ""),
            email=email or "",
            date_of_birth=born,
            record_number=record or "",
        )
        for first, last, phone, email, born, record in rows
    ]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _STARTED.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After the test body, before its fixtures (and database) are torn down: check prompts."""
    result = yield
    requests = [body for fake in _STARTED for body in fake.requests]
    if requests:
        assert_no_identifiers(requests, database_patient_identifiers())
    return result

"""Suite-wide guard: no prompt that reached the fake LLM may carry a patient identifier.

Use the helper directly, or the fixtures (``pytest_plugins = ["tests.fakes.llm_guard"]``):

    def test_reminder(fake_openai, llm_guard, patient):
        llm_guard.append(patient_identifiers(patient))   # checked after the test
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from comms.privacy import IdentifierLeak, PatientIdentifiers, check_prompt
from tests.fakes.openai_server import FakeOpenAI

__all__ = ["assert_no_identifiers", "fake_openai", "llm_guard"]


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

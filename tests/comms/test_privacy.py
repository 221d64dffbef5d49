"""The identifier guard: every format an identifier might take in a prompt is refused."""

from __future__ import annotations

from datetime import date

import pytest

from comms.privacy import IdentifierLeak, PatientIdentifiers, check_prompt

PATIENT = PatientIdentifiers(
    first_name="José",
    last_name="García López",
    phone="+1 (555) 201-3344",
    email="jgarcia80@example.com",
    date_of_birth=date(1980, 3, 5),
    record_number="MRN-004512",
    address_lines=("12 Oak Street, Apt 4", "Springfield, IL 62704"),
)


def prompt(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You write clinic messages."},
            {"role": "user", "content": text}]  # fmt: skip


def leak_kinds(text: str, **kwargs: bool) -> tuple[str, ...]:
    with pytest.raises(IdentifierLeak) as caught:
        check_prompt(prompt(text), [PATIENT], **kwargs)
    return caught.value.kinds


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Write to jose about the visit", "first_name"),
        ("Patient: GARCIA", "last_name"),
        ("lopez family", "last_name"),
        ("call 555.201.3344", "phone"),
        ("phone (555) 201 3344", "phone"),
        ("+15552013344", "phone"),
        ("local 201-3344", "phone"),
        ("mail JGarcia80@Example.com", "email"),
        ("handle jgarcia80 online", "email"),
        ("born 1980-03-05", "date_of_birth"),
        ("born 03/05/1980", "date_of_birth"),
        ("born 5.3.80", "date_of_birth"),
        ("born March 5, 1980", "date_of_birth"),
        ("born 5th of March 1980", "date_of_birth"),
        ("nacido el 5 de marzo de 1980", "date_of_birth"),
        ("dob 19800305", "date_of_birth"),
        ("record mrn 004512", "record_number"),
        ("record MRN004512", "record_number"),
        ("lives at 12 Oak Street", "address"),
        ("zip Springfield IL 62704", "address"),
    ],
)
def test_identifier_in_any_format_is_refused(text: str, kind: str) -> None:
    assert kind in leak_kinds(text)


def test_generic_email_and_phone_shapes_are_refused_whoever_the_patient() -> None:
    with pytest.raises(IdentifierLeak) as caught:
        check_prompt(prompt("contact someone@else.org or 0044 20 7946 0958"), [])
    assert caught.value.kinds == ("email_pattern", "phone_pattern")


@pytest.mark.parametrize(
    "text",
    [
        "Write a warm reminder for a dental cleaning, new patient, age band 40-59.",
        "Keep it under 215 characters. Use {date}, {time} and {provider}.",
        "Escriba un recordatorio de la cita, de usted, en español.",  # "de", "la" are not names
        "Springfield is a nice town",  # a city alone identifies nobody
    ],
)
def test_ordinary_prompts_pass(text: str) -> None:
    check_prompt(prompt(text), [PATIENT])


def test_names_match_whole_words_only() -> None:
    check_prompt(prompt("Use the josefina template; lopezia is a plant"), [PATIENT])


def test_allow_first_name_permits_only_the_first_name() -> None:
    check_prompt(prompt("Write to José"), [PATIENT], allow_first_name=True)
    assert leak_kinds("Write to José García", allow_first_name=True) == ("last_name",)


def test_leak_message_names_kinds_not_values() -> None:
    with pytest.raises(IdentifierLeak) as caught:
        check_prompt(prompt("José García, 555-201-3344"), [PATIENT])
    assert "García" not in str(caught.value) and "3344" not in str(caught.value)


def test_every_message_part_is_checked() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hello GARCÍA"}]}]
    with pytest.raises(IdentifierLeak):
        check_prompt(messages, [PATIENT])

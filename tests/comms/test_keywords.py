"""What a patient's reply means, in English and Spanish, in reminder and survey context."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comms.keywords import Reply, normalize, parse_reply

REMINDER_CASES = [
    # Twilio's opt-out set: the whole message, any case, punctuation or spacing.
    ("STOP", "opt_out", "en"),
    ("stop", "opt_out", "en"),
    ("  Stop.  ", "opt_out", "en"),
    ("STOPALL", "opt_out", "en"),
    ("Unsubscribe", "opt_out", "en"),
    ("END", "opt_out", "en"),
    ("quit!", "opt_out", "en"),
    ("REVOKE", "opt_out", "en"),
    ("OPTOUT", "opt_out", "en"),
    ("opt out", "opt_out", "en"),
    ("Opt-Out", "opt_out", "en"),
    ("stop please", "opt_out", "en"),
    ("Please STOP texting me", "opt_out", "en"),
    ("STOP STOP", "opt_out", "en"),
    # A bare CANCEL is Twilio's opt-out, even in reply to a reminder.
    ("CANCEL", "opt_out", "en"),
    ("Cancel.", "opt_out", "en"),
    ("CANCELAR", "opt_out", "es"),
    ("cancelar", "opt_out", "es"),
    # Spanish opt-out words.
    ("PARAR", "opt_out", "es"),
    ("Detener", "opt_out", "es"),
    ("BAJA", "opt_out", "es"),
    ("alto", "opt_out", "es"),
    ("No más", "opt_out", "es"),
    ("no mas", "opt_out", "es"),
    ("Darme de baja, por favor", "opt_out", "es"),
    # Opt-in.
    ("START", "opt_in", "en"),
    ("unstop", "opt_in", "en"),
    ("Comenzar", "opt_in", "es"),
    ("INICIAR", "opt_in", "es"),
    ("reanudar", "opt_in", "es"),
    # Help.
    ("HELP", "help", "en"),
    ("info", "help", "en"),
    ("Ayuda", "help", "es"),
    ("¿Ayuda?", "help", "es"),
    # Confirm.
    ("C", "confirm", "en"),
    ("1", "confirm", "en"),
    ("YES", "confirm", "en"),
    ("y", "confirm", "en"),
    ("Confirm", "confirm", "en"),
    ("ok", "confirm", "en"),
    ("Yes please!", "confirm", "en"),
    ("Yes, thank you", "confirm", "en"),
    ("See you then", "confirm", "en"),
    ("SI", "confirm", "es"),
    ("Sí", "confirm", "es"),
    ("¡SÍ!", "confirm", "es"),
    ("Confirmar", "confirm", "es"),
    ("Sí, confirmo. Gracias", "confirm", "es"),
    ("ok gracias", "confirm", "es"),
    # Cancel the appointment: anything but the bare keyword.
    ("2", "cancel", "en"),
    ("cancel appointment", "cancel", "en"),
    ("Cancel my appointment please", "cancel", "en"),
    ("please cancel", "cancel", "en"),
    ("Cancelar cita", "cancel", "es"),
    ("cancelar mi cita por favor", "cancel", "es"),
    ("Por favor cancelar", "cancel", "es"),
    # Reschedule.
    ("R", "reschedule", "en"),
    ("3", "reschedule", "en"),
    ("Reschedule", "reschedule", "en"),
    ("REPROGRAMAR", "reschedule", "es"),
    ("cambiar", "reschedule", "es"),
    ("Cambiar mi cita", "reschedule", "es"),
    # Anything else goes to a person, with a best guess at the language.
    ("", "unknown", "en"),
    ("?", "unknown", "en"),
    ("I will stop by at 3", "unknown", "en"),
    ("Can I come at 10 instead?", "unknown", "en"),
    ("Hola, necesito hablar con la doctora", "unknown", "es"),
    ("4", "unknown", "en"),
    ("no", "unknown", "en"),
    ("cancel it and stop", "unknown", "en"),
]


@pytest.mark.parametrize(("body", "intent", "language"), REMINDER_CASES)
def test_reminder_replies(body: str, intent: str, language: str) -> None:
    reply = parse_reply(body, expecting="reminder")
    assert (reply.intent, reply.language, reply.score) == (intent, language, None)


NPS_CASES = [
    ("0", "nps", 0, "en"),
    ("1", "nps", 1, "en"),
    ("2", "nps", 2, "en"),
    ("3", "nps", 3, "en"),
    ("10", "nps", 10, "en"),
    (" 9. ", "nps", 9, "en"),
    ("10/10", "nps", 10, "en"),
    ("8 out of 10", "nps", 8, "en"),
    ("7 de 10", "nps", 7, "es"),
    ("nine", "nps", 9, "en"),
    ("Diez", "nps", 10, "es"),
    ("11", "unknown", None, "en"),
    ("-1", "nps", 1, "en"),  # punctuation is dropped: a dash is not a minus sign in a reply
    ("٣", "unknown", None, "en"),  # only ASCII digits
    ("great service", "unknown", None, "en"),
    # STOP wins in every context; so do HELP and START.
    ("STOP", "opt_out", None, "en"),
    ("cancel", "opt_out", None, "en"),
    ("baja", "opt_out", None, "es"),
    ("help", "help", None, "en"),
    ("start", "opt_in", None, "en"),
    # Reminder answers mean nothing in a survey.
    ("C", "unknown", None, "en"),
    ("yes", "unknown", None, "en"),
]


@pytest.mark.parametrize(("body", "intent", "score", "language"), NPS_CASES)
def test_nps_replies(body: str, intent: str, score: int | None, language: str) -> None:
    reply = parse_reply(body, expecting="nps")
    assert (reply.intent, reply.score, reply.language) == (intent, score, language)


@pytest.mark.parametrize(
    ("body", "opted_out", "intent"),
    [
        ("YES", False, "confirm"),  # a reminder answer while subscribed
        ("YES", True, "opt_in"),  # Twilio re-subscribes an opted-out number on YES
        ("yes!", True, "opt_in"),
        ("START", False, "opt_in"),
        ("SI", True, "confirm"),  # not a Twilio opt-in keyword: Twilio would still block
        ("C", True, "confirm"),
        ("STOP", True, "opt_out"),
    ],
)
def test_yes_depends_on_consent_state(body: str, opted_out: bool, intent: str) -> None:
    assert parse_reply(body, opted_out=opted_out).intent == intent


def test_neutral_replies_take_the_patients_language() -> None:
    assert parse_reply("1", default_language="es") == Reply("confirm", "es", None, "1")
    assert parse_reply("C", default_language="es").language == "es"
    assert parse_reply("yes", default_language="es").language == "en"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("¡Sí!", "si"),
        ("  NO   MÁS  ", "no mas"),
        ("Opt-Out", "opt out"),
        ("STOP\n", "stop"),
        ("ÑOÑO", "nono"),
        ("snake_case", "snake case"),
    ],
)
def test_normalize(body: str, expected: str) -> None:
    assert normalize(body) == expected


@given(st.text(max_size=200), st.sampled_from(["reminder", "nps"]), st.booleans())
def test_any_text_gets_a_valid_reply(body: str, expecting: str, opted_out: bool) -> None:
    reply = parse_reply(body, expecting=expecting, opted_out=opted_out)  # type: ignore[arg-type]
    assert reply.intent in {
        "opt_out", "opt_in", "help", "confirm", "cancel", "reschedule", "nps", "unknown"
    }  # fmt: skip
    assert reply.language in {"en", "es"}
    assert (reply.score is not None) == (reply.intent == "nps")
    if reply.score is not None:
        assert 0 <= reply.score <= 10


@given(
    st.sampled_from(
        ["STOP", "stopall", "Unsubscribe", "end", "QUIT", "revoke", "optout", "cancel"]
    ),
    st.sampled_from(["", " ", "  ", "\n", ".", "!", "!!"]),
    st.sampled_from(["reminder", "nps"]),
    st.booleans(),
)
def test_twilio_opt_out_keywords_always_opt_out(
    keyword: str, decoration: str, expecting: str, opted_out: bool
) -> None:
    body = f"{decoration}{keyword}{decoration}"
    reply = parse_reply(body, expecting=expecting, opted_out=opted_out)  # type: ignore[arg-type]
    assert reply.intent == "opt_out"

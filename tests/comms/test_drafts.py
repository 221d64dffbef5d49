"""The pure validator: each rule on its own, in both languages, and the survey rules."""

from __future__ import annotations

import pytest

from comms.drafts import Segment, validate
from comms.survey_drafts import SurveyQuestion, validate_survey

EN_SMS = Segment("reminder", "en", "dental cleaning", "sms")
ES_SMS = Segment("reminder", "es", "limpieza dental", "sms")
EN_GOOD = (
    "Hi! Your dental cleaning with {provider} is on {date} at {time}, {location}. "
    "Reply C to confirm, R to reschedule, 2 to cancel. Reply STOP to opt out"
)
ES_GOOD = (
    "Hola. Su cita con {provider} es el {date} a las {time}, {location}. "
    "Responda C para confirmar, R para reprogramar, 2 para cancelar. "
    "Responda PARAR para cancelar suscripcion"
)


def codes(segment: Segment, body: str, subject: str = "") -> list[str]:
    return [r.code.value for r in validate(segment, body, subject)]


def test_good_drafts_pass_in_both_languages() -> None:
    assert codes(EN_SMS, EN_GOOD) == []
    assert codes(ES_SMS, ES_GOOD) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (("{time}", "{appointment_time}"), "placeholder_invented"),
        (("{time}", "{ time }"), "placeholder_altered"),
        (("{time}", "{{time}}"), "placeholder_altered"),
        (("{time}", "[time]"), "placeholder_altered"),
        (("{time}", "{time"), "placeholder_altered"),
        (("Hi!", "Hi {link}!"), "placeholder_invented"),  # a real fact, not for this message
        (("Hi!", "Monday!"), "date_literal"),
        (("Hi!", "Hi, see you March 5!"), "date_literal"),
        (("Hi!", "Hi, on 5/3!"), "date_literal"),
        (("Hi!", "See you tomorrow!"), "date_literal"),
        (("Hi!", "See you at 3pm!"), "time_literal"),
        (("Hi!", "Doors open 10:30."), "time_literal"),
        (("Hi!", "Come at noon."), "time_literal"),
        (("Hi!", "Visit www.clinic.com."), "url_literal"),
        (("Hi!", "Visit clinic.org/book."), "url_literal"),
        (("Hi!", "Email help@clinic.org."), "email_literal"),
        (("Hi!", "Call +1 555 201 7788."), "phone_literal"),
        (("Hi!", "Bring 20 USD."), "money_literal"),
        (("Hi!", "Arrive 15 minutes early."), "number_literal"),
        (("Hi!", "Hi 😀"), "ucs2_chars"),
        (("Reply STOP to opt out", ""), "opt_out_missing"),
        (("C to confirm, R to reschedule, 2 to cancel.", "YES."), "reply_keywords_missing"),
    ],
)  # fmt: skip
def test_each_rule_rejects_with_its_code(change: tuple[str, str], code: str) -> None:
    assert code in codes(EN_SMS, EN_GOOD.replace(*change))


def test_compliance_lines_are_matched_loosely_but_required() -> None:
    loose = EN_GOOD.replace("Reply STOP to opt out", "reply stop to opt-out.")
    assert codes(EN_SMS, loose) == []


def test_spanish_accents_are_allowed_but_budgeted_as_ucs2() -> None:
    short = ES_GOOD.replace("Hola.", "Habrá más información.")
    assert "ucs2_chars" not in codes(ES_SMS, short)
    # Accented, the filled reminder no longer fits two UCS-2 segments (134 characters).
    assert "too_long" in codes(ES_SMS, short)
    assert "ucs2_chars" in codes(EN_SMS, EN_GOOD.replace("Hi!", "Habrá"))


def test_spanish_literals_are_caught() -> None:
    assert "date_literal" in codes(ES_SMS, ES_GOOD.replace("Hola.", "Hola, nos vemos el sábado."))
    assert "time_literal" in codes(ES_SMS, ES_GOOD.replace("Hola.", "Venga por la mañana."))


def test_wrong_language_is_caught_both_ways() -> None:
    assert "wrong_language" in codes(
        EN_SMS,
        EN_GOOD.replace("Hi!", "Hola, su cita es pronto y le esperamos con gusto en la clínica."),
    )
    english = ES_GOOD.replace(
        "Hola.",
        "Hello, this is a note that you have a visit with us "
        "and we will be happy to see you there.",
    )
    assert "wrong_language" in codes(ES_SMS, english)  # fmt: skip


def test_email_needs_a_plain_subject_and_stays_within_budget() -> None:
    email = Segment("survey_invite", "en", "x", "email")
    body = "Thank you for your visit. Please tell us how it went: {link}"
    assert codes(email, body, "How was your visit?") == []
    assert codes(email, body, "") == ["subject_invalid"]
    assert codes(email, body, "Your visit on {date}") == ["subject_invalid"]
    assert "date_literal" in codes(email, body, "Your visit on Monday")
    assert "too_long" in codes(email, body + " Thanks." * 300, "How was your visit?")


def test_empty_draft() -> None:
    assert codes(EN_SMS, "  ") == ["empty"]


# -- survey rules -----------------------------------------------------------------------------

NPS = SurveyQuestion("nps", "How likely are you to recommend us to friends and family?", 0, 10)
GOOD = [
    NPS,
    SurveyQuestion("likert", "The staff explained each step of the visit.", 1, 5),
    SurveyQuestion("free_text", "What could we do better?"),
]


def survey_codes(questions: list[SurveyQuestion], language: str = "en") -> list[str]:
    return [r.code.value for r in validate_survey(language, questions)]


def test_good_survey_passes() -> None:
    assert survey_codes(GOOD) == []
    spanish = [
        SurveyQuestion("nps", "¿Qué tan probable es que nos recomiende a familiares o amigos?",
                       0, 10),
        SurveyQuestion("rating", "¿Cómo califica el tiempo de espera?", 1, 5),
        SurveyQuestion("free_text", "¿Qué podríamos mejorar para su próxima visita?"),
    ]  # fmt: skip
    assert survey_codes(spanish, "es") == []


@pytest.mark.parametrize(
    ("questions", "code"),
    [
        (GOOD[:2], "too_few_questions"),
        (GOOD + [GOOD[1]] * 10, "too_many_questions"),
        (GOOD[1:] + [GOOD[1]], "nps_missing"),
        (GOOD + [SurveyQuestion("slider", "Rate us", 0, 100)], "unknown_kind"),
        (GOOD + [SurveyQuestion("likert", "The room was clean.", 0, 10)], "bad_scale"),
        ([SurveyQuestion("nps", "How likely are you to recommend us?", 1, 5), *GOOD[1:]],
         "bad_scale"),
        (GOOD + [SurveyQuestion("likert", "Don't you agree the staff were kind?", 1, 5)],
         "leading_wording"),
        (GOOD + [SurveyQuestion("rating", "How great was your visit?", 1, 5)], "leading_wording"),
        (GOOD + [SurveyQuestion("rating", "How excellent was the care?", 1, 5)],
         "leading_wording"),
        (GOOD + [SurveyQuestion("rating", "Rate the doctor and the nurse.", 1, 5)],
         "double_barrelled"),
        (GOOD + [SurveyQuestion("free_text", "Write to help@clinic.org")], "email_literal"),
        (GOOD + [SurveyQuestion("free_text", "   ")], "empty"),
    ],
)  # fmt: skip
def test_survey_rules(questions: list[SurveyQuestion], code: str) -> None:
    assert code in survey_codes(questions)


def test_spanish_leading_and_double_barrelled() -> None:
    leading = SurveyQuestion("likert", "¿No está de acuerdo en que la atención fue buena?", 1, 5)
    double = SurveyQuestion("rating", "¿Cómo califica la limpieza y la puntualidad?", 1, 5)
    found = survey_codes([*GOOD, leading, double], "es")
    assert "leading_wording" in found and "double_barrelled" in found

"""The writer end to end: the real `openai` client against a loopback server, and the templates.

What is checked is what the patient would receive: the exact text, the facts from our side only,
GSM-7 for SMS, the opt-out line, and a template (with the reason recorded) whenever the LLM's
output cannot be trusted.
"""

from __future__ import annotations

from collections.abc import Iterator

import jinja2
import pytest

from comms.drafts import PURPOSES, WORST_CASE_FACTS, Draft, MissingFact, Segment, render
from comms.llm import LLMEngine
from comms.privacy import PatientIdentifiers
from comms.segments import ucs2_chars
from comms.writer import MemoryVariantCache, TemplateEngine, Writer, WriteRequest
from tests.fakes.llm_guard import assert_no_identifiers
from tests.fakes.openai_server import FakeOpenAI, Reply, adversarial_replies

SMS_REMINDER = Segment("reminder", "en", "dental cleaning", "sms", tone="warm")
GOOD_SMS = (
    "Hi! Your dental cleaning with {provider} is on {date} at {time}, {location}. "
    "Reply C to confirm, R to reschedule, 2 to cancel. Reply STOP to opt out"
)
FACTS = {
    "date": "Tuesday, March 3",
    "time": "9:30 AM",
    "provider": "Dr. Ana Ruiz",
    "location": "Eastside Clinic",
    "address": "12 Oak Street, Springfield",
    "link": "https://clinic.example.org/r/k3Y9",
    "prep": "Brush and floss before your visit.",
    "clinic_phone": "+1 (555) 555-0100",
}
PATIENT = PatientIdentifiers(
    first_name="Maria",
    last_name="Delgado",
    phone="+1 555 201 3344",
    email="maria.delgado@example.com",
    record_number="MRN-004512",
)


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def writer(fake: FakeOpenAI) -> Writer:
    # Short timeout and no retries keep the timeout test under a second.
    llm = LLMEngine(
        api_key="test-key", model="fake-model", base_url=fake.base_url, timeout_s=0.5, max_retries=0
    )
    return Writer(llm=llm)


def facts_for(segment: Segment, facts: dict[str, str] = FACTS) -> dict[str, str]:
    return {name: facts[name] for name in segment.placeholders}


def test_good_draft_is_used_and_facts_are_filled_locally(writer: Writer, fake: FakeOpenAI) -> None:
    fake.script(Reply.draft(GOOD_SMS))

    message = writer.write(WriteRequest(SMS_REMINDER, facts_for(SMS_REMINDER), PATIENT))

    assert message.source == "llm"
    assert message.fallback_reason is None
    assert message.body == (
        "Hi! Your dental cleaning with Dr. Ana Ruiz is on Tuesday, March 3 at 9:30 AM, "
        "Eastside Clinic. Reply C to confirm, R to reschedule, 2 to cancel. Reply STOP to opt out"
    )
    assert message.variant_id and message.prompt_version == "en/reminder.v1"
    assert message.sms is not None and message.sms.encoding == "GSM-7"
    # The model saw placeholders and context, never a fact or an identifier.
    prompt = str(fake.requests[0]["messages"])
    assert "{date}" in prompt and "dental cleaning" in prompt
    assert "Dr. Ana Ruiz" not in prompt and "March 3" not in prompt
    assert_no_identifiers(fake.requests, [PATIENT])
    assert fake.requests[0]["response_format"]["type"] == "json_schema"


def test_draft_records_tokens_and_latency(writer: Writer, fake: FakeOpenAI) -> None:
    fake.latency_s = 0.05
    fake.script(Reply.draft(GOOD_SMS))

    draft = writer.draft_variant(SMS_REMINDER)

    assert draft.accepted and draft.body == GOOD_SMS
    assert draft.usage is not None
    assert draft.usage.prompt_tokens > 0 and draft.usage.completion_tokens > 0
    assert draft.usage.latency_ms >= 50


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("dropped_placeholder", "placeholder_dropped"),
        ("extra_placeholder", "placeholder_invented"),
        ("repeated_placeholder", "placeholder_repeated"),
        ("altered_placeholder", "placeholder_altered"),
        ("invented_time", "time_literal"),
        ("invented_date", "date_literal"),
        ("url", "url_literal"),
        ("phone", "phone_literal"),
        ("money", "money_literal"),
        ("too_long", "too_long"),
        ("wrong_language", "wrong_language"),
        ("invalid_json", "invalid_output"),
        ("wrong_shape", "invalid_output"),
        ("refusal", "llm_refusal"),
        ("truncated", "truncated"),
        ("timeout", "llm_timeout"),
        ("http_500", "llm_error"),
    ],
)
def test_adversarial_output_falls_back_to_template(
    writer: Writer, fake: FakeOpenAI, kind: str, reason: str
) -> None:
    fake.script(adversarial_replies(GOOD_SMS, list(SMS_REMINDER.placeholders))[kind])

    message = writer.write(WriteRequest(SMS_REMINDER, facts_for(SMS_REMINDER)))

    assert message.source == "template"
    assert message.template_name == "en/reminder.sms"
    assert message.fallback_reason == reason
    assert message.fallback_detail
    assert message.body == TemplateEngine().render(SMS_REMINDER, facts_for(SMS_REMINDER)).body
    for bad in ("3:30pm", "evil.example", "555-201", "$25", "Hola", "{", "late", "remember"):
        assert bad not in message.body


def test_guard_refuses_a_prompt_carrying_identifiers(fake: FakeOpenAI) -> None:
    llm = LLMEngine(api_key="k", model="m", base_url=fake.base_url, timeout_s=0.5, max_retries=0)
    # An appointment type is free text typed by staff: the guard is the last line of defence.
    leaky = Segment("reminder", "en", "follow-up for Maria Delgado", "sms")

    message = Writer(llm=llm).write(WriteRequest(leaky, facts_for(leaky), PATIENT))

    assert fake.requests == []  # nothing left the building
    assert message.source == "template"
    assert message.fallback_reason == "identifier_leak"
    assert "Delgado" not in message.fallback_detail  # kinds only, safe to log
    assert "first_name" in message.fallback_detail and "last_name" in message.fallback_detail


def test_first_name_allowed_only_when_configured(fake: FakeOpenAI) -> None:
    llm = LLMEngine(
        api_key="k", model="m", base_url=fake.base_url, timeout_s=0.5, max_retries=0,
        allow_first_name=True,
    )  # fmt: skip
    fake.script(Reply.draft(GOOD_SMS))
    segment = Segment("reminder", "en", "check-up (Maria's request)", "sms")

    message = Writer(llm=llm).write(WriteRequest(segment, facts_for(segment), PATIENT))

    assert message.source == "llm"
    assert len(fake.requests) == 1


def test_cache_makes_one_call_per_segment_including_failures(fake: FakeOpenAI) -> None:
    llm = LLMEngine(api_key="k", model="m", base_url=fake.base_url, timeout_s=0.5, max_retries=0)
    writer = Writer(llm=llm, cache=MemoryVariantCache())
    email = Segment("reminder", "en", "dental cleaning", "email")
    fake.script(Reply.draft(GOOD_SMS), Reply.error(500))

    sms_sources = {writer.write(WriteRequest(SMS_REMINDER, FACTS)).source for _ in range(5)}
    email_reasons = {writer.write(WriteRequest(email, FACTS)).fallback_reason for _ in range(5)}

    assert len(fake.requests) == 2
    assert sms_sources == {"llm"}
    assert email_reasons == {"llm_error"}


def test_failed_draft_is_retried_after_the_retry_window() -> None:
    now = [0.0]
    cache = MemoryVariantCache(retry_after_s=60, clock=lambda: now[0])
    cache.put(Draft(SMS_REMINDER, "en/reminder.v1"))  # no body: a failure
    assert cache.get(SMS_REMINDER) is not None
    now[0] = 61
    assert cache.get(SMS_REMINDER) is None


def test_real_facts_making_the_variant_dearer_than_the_template_fall_back(
    writer: Writer, fake: FakeOpenAI
) -> None:
    wordy = GOOD_SMS.replace(
        "Hi!", "Hi! We look forward to seeing you soon, and thank you for choosing our team."
    )
    fake.script(Reply.draft(wordy))  # fits two segments with worst-case facts...
    long_facts = facts_for(SMS_REMINDER) | {"location": "Eastside Clinic, " + "Wing B, " * 9}

    message = writer.write(WriteRequest(SMS_REMINDER, long_facts))

    # ...but with these real facts it needs three, where the template needs two.
    assert message.source == "template"
    assert message.fallback_reason == "too_long"
    assert message.sms is not None and message.sms.segments == 2


def test_facts_that_force_ucs2_do_not_refuse_an_otherwise_good_variant(
    writer: Writer, fake: FakeOpenAI
) -> None:
    fake.script(Reply.draft(GOOD_SMS))
    accented = facts_for(SMS_REMINDER) | {"provider": "Dr. Ana Núñez Ortíz"}

    message = writer.write(WriteRequest(SMS_REMINDER, accented))

    # The template would be UCS-2 as well: the variant costs no more, so it is used.
    assert message.source == "llm"
    assert message.sms is not None and message.sms.encoding == "UCS-2"


def test_llm_email_is_wrapped_escaped_and_filled(writer: Writer, fake: FakeOpenAI) -> None:
    segment = Segment("survey_invite", "en", "physiotherapy", "email")
    fake.script(
        Reply.draft(
            "Thank you for visiting us.\n\nPlease tell us how it went: {link}",
            subject="How was your visit?",
        )
    )

    message = writer.write(WriteRequest(segment, {"link": "https://c.example/s?a=1&b=2"}))

    assert message.source == "llm"
    assert message.subject == "How was your visit?"
    assert message.body.startswith(
        "Thank you for visiting us.\n\nPlease tell us how it went: https://c.example/s?a=1&b=2"
    )
    assert '<a href="https://c.example/s?a=1&amp;b=2">' in message.html
    assert "<p>Thank you for visiting us.</p>" in message.html


def test_template_only_purposes_never_call_the_llm(writer: Writer, fake: FakeOpenAI) -> None:
    segment = Segment("opt_out_ack", "en", "any", "sms")

    message = writer.write(WriteRequest(segment, FACTS))

    assert fake.requests == []
    assert message.fallback_reason == "llm_not_allowed"
    assert message.body == (
        "You are unsubscribed and will get no more messages from us. Reply START to subscribe "
        "again. Questions? Call +1 (555) 555-0100"
    )


def test_without_llm_the_template_is_used_without_a_fallback_reason() -> None:
    message = Writer().write(WriteRequest(SMS_REMINDER, FACTS))
    assert (message.source, message.fallback_reason) == ("template", None)


# -- templates --------------------------------------------------------------------------------


def test_english_sms_reminder_exact_body() -> None:
    message = Writer().write(WriteRequest(SMS_REMINDER, facts_for(SMS_REMINDER)))
    assert message.body == (
        "Reminder: your appointment with Dr. Ana Ruiz is on Tuesday, March 3 at 9:30 AM, "
        "Eastside Clinic. Reply C to confirm, R to reschedule, 2 to cancel.\n"
        "Reply STOP to opt out"
    )


def test_spanish_sms_reminder_exact_body() -> None:
    segment = Segment("reminder", "es", "limpieza dental", "sms")
    facts = {"date": "martes 3 de marzo", "time": "9:30", "provider": "Dra. Ana Ruiz",
             "location": "Clinica Este"}  # fmt: skip
    message = Writer().write(WriteRequest(segment, facts))
    assert message.body == (
        "Recordatorio: su cita con Dra. Ana Ruiz es el martes 3 de marzo a las 9:30, Clinica Este. "
        "Responda C para confirmar, R para reprogramar, 2 para cancelar.\n"
        "Responda PARAR para cancelar suscripcion"
    )
    assert message.sms is not None and message.sms.encoding == "GSM-7"


def test_english_email_reminder_exact_subject_and_text() -> None:
    segment = Segment("reminder", "en", "dental cleaning", "email")
    message = Writer().write(WriteRequest(segment, FACTS))
    assert message.subject == "Appointment reminder: Tuesday, March 3 at 9:30 AM"
    assert message.body == (
        "Hello,\n\n"
        "This is a reminder of your appointment with Dr. Ana Ruiz on Tuesday, March 3 at 9:30 AM."
        "\n\nWhere: Eastside Clinic\nAddress: 12 Oak Street, Springfield\n\n"
        "How to prepare:\nBrush and floss before your visit.\n\n"
        "To confirm, cancel or choose a new time, use this link: https://clinic.example.org/r/k3Y9"
        "\n\nQuestions? Call us at +1 (555) 555-0100.\n\n"
        "Your care team\n\n"
        "You receive this email because you have an appointment with us."
    )
    assert '<a href="https://clinic.example.org/r/k3Y9">' in message.html
    assert '<html lang="en">' in message.html


def test_spanish_email_survey_invite_exact_text() -> None:
    segment = Segment("survey_invite", "es", "fisioterapia", "email")
    message = Writer().write(WriteRequest(segment, {"link": "https://c.example/s/1"}))
    assert message.subject == "¿Cómo fue su visita?"
    assert message.body == (
        "Hola:\n\n"
        "Gracias por su visita. Queremos conocer su experiencia en una breve encuesta:\n"
        "https://c.example/s/1\n\n"
        "Solo toma unos dos minutos. Sus respuestas nos ayudan a mejorar.\n\n"
        "Su equipo de atención\n\n"
        "Recibe este correo porque tiene una cita con nosotros."
    )


def test_email_template_escapes_facts_in_html() -> None:
    segment = Segment("confirmation_ack", "en", "x", "email")
    facts = facts_for(segment) | {"provider": "Dr. <b>Evil</b> & Co"}
    message = Writer().write(WriteRequest(segment, facts))
    assert "Dr. &lt;b&gt;Evil&lt;/b&gt; &amp; Co" in message.html
    assert "Dr. <b>Evil</b> & Co" in message.body  # plain text is not escaped


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("purpose", sorted(PURPOSES))
def test_every_sms_template_is_gsm7_fits_two_segments_and_has_opt_out(
    language: str, purpose: str
) -> None:
    segment = Segment(purpose, language, "x", "sms")
    # Worst-case facts, typographic characters folded as the writer does for SMS.
    message = Writer(transliterate_sms_accents=True).write(
        WriteRequest(segment, facts_for(segment, WORST_CASE_FACTS[language]))
    )
    assert ucs2_chars(message.body) == []
    assert message.sms is not None and message.sms.segments <= 2
    if purpose == "opt_out_ack":
        assert "START" in message.body or "COMENZAR" in message.body
    else:
        assert message.body.endswith(
            {"en": "Reply STOP to opt out", "es": "Responda PARAR para cancelar suscripcion"}[
                language
            ]
        )


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("purpose", sorted(PURPOSES))
def test_every_email_template_renders_with_exactly_its_facts(language: str, purpose: str) -> None:
    segment = Segment(purpose, language, "x", "email")
    message = Writer().write(WriteRequest(segment, facts_for(segment, WORST_CASE_FACTS[language])))
    assert message.subject and message.body and message.html.startswith("<!DOCTYPE html>")


def test_strict_undefined_raises_for_a_missing_fact() -> None:
    facts = facts_for(SMS_REMINDER)
    del facts["time"]
    with pytest.raises(jinja2.UndefinedError):
        Writer().write(WriteRequest(SMS_REMINDER, facts))


def test_render_fills_only_known_placeholders_and_refuses_missing_facts() -> None:
    assert render("At {time}, {date}.", {"time": "9:30", "date": "May 2"}) == "At 9:30, May 2."
    # Format-string tricks are inert: this is not str.format.
    assert render("{time.__class__}", {"time": "9:30"}) == "{time.__class__}"
    with pytest.raises(MissingFact):
        render("At {time}", {})


def test_sandbox_blocks_unsafe_template_code(tmp_path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "help.sms.j2").write_text("{{ clinic_phone.__class__.__mro__ }}")
    with pytest.raises(jinja2.exceptions.SecurityError):
        TemplateEngine(tmp_path).render(Segment("help", "en", "x", "sms"), {"clinic_phone": "1"})


def test_timeout_above_thirty_seconds_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout"):
        LLMEngine(api_key="k", model="m", timeout_s=60)


# -- surveys ----------------------------------------------------------------------------------

GOOD_SURVEY = {
    "questions": [
        {"kind": "nps", "wording": "How likely are you to recommend us to friends and family?",
         "scale_min": 0, "scale_max": 10},
        {"kind": "likert", "wording": "The staff explained what would happen during the visit.",
         "scale_min": 1, "scale_max": 5},
        {"kind": "rating", "wording": "How would you rate the waiting time?",
         "scale_min": 1, "scale_max": 5},
        {"kind": "free_text", "wording": "What could we do better next time?",
         "scale_min": None, "scale_max": None},
    ]
}  # fmt: skip


def test_propose_survey_accepts_a_good_set(writer: Writer, fake: FakeOpenAI) -> None:
    assert writer.llm is not None
    fake.script(Reply.json(GOOD_SURVEY))

    draft = writer.llm.propose_survey("physiotherapy", "en")

    assert draft.accepted, draft.issues
    assert [q.kind for q in draft.questions] == ["nps", "likert", "rating", "free_text"]
    assert draft.prompt_version == "en/survey_questions.v1"
    assert draft.usage is not None and draft.usage.prompt_tokens > 0


def test_propose_survey_flags_bad_questions(writer: Writer, fake: FakeOpenAI) -> None:
    assert writer.llm is not None
    bad = {
        "questions": [
            {"kind": "likert", "wording": "Don't you agree our staff were helpful?",
             "scale_min": 1, "scale_max": 5},
            {"kind": "rating", "wording": "How would you rate the doctor and the nurse?",
             "scale_min": 1, "scale_max": 5},
            {"kind": "slider", "wording": "Drag to rate", "scale_min": 0, "scale_max": 100},
        ]
    }  # fmt: skip
    fake.script(Reply.json(bad))

    draft = writer.llm.propose_survey("physiotherapy", "en")

    codes = {issue.code.value for issue in draft.issues}
    assert not draft.accepted
    assert {"nps_missing", "leading_wording", "double_barrelled", "unknown_kind"} <= codes


def test_propose_survey_reports_llm_failure(writer: Writer, fake: FakeOpenAI) -> None:
    assert writer.llm is not None
    fake.script(Reply.raw("not json"))
    draft = writer.llm.propose_survey("physiotherapy", "es")
    assert [i.code.value for i in draft.issues] == ["invalid_output"]
    assert "es/survey_questions.v1" in draft.prompt_version

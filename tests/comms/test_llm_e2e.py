"""LLM wording end to end: the real `openai` client against a loopback server, real bookings.

What is checked is what the patient gets: a draft is never used before a Manager approves it,
an approved variant is filled with facts from the database (exact body), every bad model
output ends as an invalid variant with its reason while patients get the template, and the
send path never calls the LLM (calls scale with segments, not messages).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import time
from typing import Any

import pytest
from django.contrib.auth.models import Group

from comms import approvals
from comms.compose import compose, set_writer
from comms.facts import appointment_facts
from comms.llm import LLMEngine
from comms.llm_tasks import draft_missing_variants
from comms.models import LLMCall, MessageVariant, OutboundMessage, VariantStatus
from scheduling import services
from tests import factories
from tests.fakes.openai_server import FakeOpenAI, Reply, adversarial_replies

pytestmark = pytest.mark.django_db

GOOD_SMS = (
    "Hi! Your visit with {provider} is on {date} at {time}, {location}. "
    "Reply C to confirm, R to reschedule, 2 to cancel. Reply STOP to opt out"
)
_PROSE = {
    "en": ("Here are the details for your visit:", "Thank you.", "About your visit"),
    "es": ("Estos son los datos de su cita:", "Gracias.", "Sobre su cita"),
}


def good_reply(body: dict[str, Any]) -> Reply:
    """A valid draft for whatever segment the prompt describes (read from the prompt)."""
    prompt = "\n".join(str(m["content"]) for m in body["messages"])
    language = "es" if "PARAR" in prompt or "español" in prompt else "en"
    wanted = re.search(r"^(?:Placeholders|Marcadores): .*$", prompt, re.MULTILINE)[0]
    placeholders = list(dict.fromkeys(re.findall(r"\{[a-z_]+\}", wanted)))
    opening, closing, subject = _PROSE[language]
    text = f"{opening} {', '.join(placeholders)}. {closing}"
    if "STOP" in prompt or "PARAR" in prompt:  # SMS: end with the exact compliance lines
        lines = [
            line.strip()
            for line in prompt.splitlines()
            if line.startswith(("Reply C", "Responda C", "Reply STOP", "Responda PARAR"))
        ]
        return Reply.draft("\n".join([text, *lines]))
    return Reply.draft(text, subject)


@pytest.fixture
def llm(settings) -> Iterator[FakeOpenAI]:
    """The LLM configured through settings, answered by a loopback fake."""
    with FakeOpenAI() as fake:
        settings.OPENAI_API_KEY = "test"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_MODEL = "fake-model"
        settings.OPENAI_TIMEOUT_S = 2
        set_writer(None)
        yield fake
    set_writer(None)


@pytest.fixture
def fast_engine(llm: FakeOpenAI) -> LLMEngine:
    """No retries and a short timeout, so the timeout and 500 cases stay under a second."""
    return LLMEngine(
        api_key="test", model="fake-model", base_url=llm.base_url, timeout_s=0.5, max_retries=0
    )


@pytest.fixture
def manager(django_user_model):
    user = django_user_model.objects.create_user("manny", password="pw-123456", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="Manager")[0])
    return user


class Booker:
    """Books visits in the clinic fixture, one slot after another from next week on."""

    def __init__(self, clinic) -> None:
        self.clinic = clinic
        self.slots = self._slots()

    def _slots(self) -> Iterator:
        for week in range(1, 30):
            for weekday in range(5):
                day = self.clinic.next_weekday(weekday, weeks_ahead=week)
                for hour in (8, 9, 10, 11, 13, 14, 15, 16):
                    yield self.clinic.at(day, time(hour))

    def book(self, patient=None, appointment_type=None):
        return services.book(
            patient=patient or self.clinic.patient,
            provider=self.clinic.provider,
            location=self.clinic.location,
            appointment_type=appointment_type or self.clinic.visit,
            start=next(self.slots),
        )


@pytest.fixture
def booker(clinic) -> Booker:
    return Booker(clinic)


def reminder_segment(clinic, channel: str = "sms", language: str = "en"):
    from comms.compose import segment_for

    return segment_for("reminder", channel, language, clinic.visit)


def first_reminder(appointment) -> OutboundMessage:
    return OutboundMessage.objects.filter(appointment=appointment, purpose="reminder").first()


def test_draft_waits_for_approval_then_the_variant_is_filled_locally(
    llm, clinic, booker, manager
) -> None:
    llm.script(Reply.draft(GOOD_SMS))
    (variant,) = approvals.draft_variants([reminder_segment(clinic)])
    assert variant.status == VariantStatus.DRAFT and variant.body == GOOD_SMS

    before = first_reminder(booker.book())
    assert before.body.startswith("Reminder: your appointment with Dr")  # the template
    assert before.source == "template:en/reminder.sms (fallback: awaiting_approval)"

    approvals.approve(variant, manager)
    appointment = booker.book()
    after = first_reminder(appointment)

    facts = appointment_facts(appointment, "en")
    assert after.body == (
        f"Hi! Your visit with Dr Elena Ortiz is on {facts['date']} at {facts['time']}, "
        "Riverside. Reply C to confirm, R to reschedule, 2 to cancel. Reply STOP to opt out"
    )
    variant.refresh_from_db()
    assert after.source == f"llm:{variant.variant_hash}"
    assert after.encoding == "GSM-7" or after.encoding == ""
    assert len(llm.requests) == 1  # composing both bookings' reminders asked nothing


def test_auto_approved_purpose_is_used_without_review(llm, clinic, booker, manager) -> None:
    approvals.set_auto_approve("reminder", True, manager)
    llm.script(Reply.draft(GOOD_SMS))

    (variant,) = approvals.draft_variants([reminder_segment(clinic)])

    assert variant.status == VariantStatus.APPROVED and variant.auto_approved
    assert first_reminder(booker.book()).source == f"llm:{variant.variant_hash}"


def test_rejecting_an_approved_variant_brings_the_template_back(
    llm, clinic, booker, manager
) -> None:
    llm.script(Reply.draft(GOOD_SMS))
    (variant,) = approvals.draft_variants([reminder_segment(clinic)])
    approvals.approve(variant, manager)
    approvals.reject(variant, manager)

    assert first_reminder(booker.book()).source == "template:en/reminder.sms"


ADVERSARIAL = {
    "dropped_placeholder": "placeholder_dropped",
    "extra_placeholder": "placeholder_invented",
    "repeated_placeholder": "placeholder_repeated",
    "altered_placeholder": "placeholder_altered",
    "invented_time": "time_literal",
    "invented_date": "date_literal",
    "url": "url_literal",
    "phone": "phone_literal",
    "money": "money_literal",
    "too_long": "too_long",
    "wrong_language": "wrong_language",
    "invalid_json": "invalid_output",
    "wrong_shape": "invalid_output",
    "refusal": "llm_refusal",
    "truncated": "truncated",
    "timeout": "llm_timeout",
    "http_500": "llm_error",
}


@pytest.mark.parametrize(("kind", "reason"), ADVERSARIAL.items())
def test_bad_output_is_stored_invalid_and_patients_get_the_template(
    llm, fast_engine, clinic, booker, manager, kind, reason
) -> None:
    approvals.set_auto_approve("reminder", True, manager)  # even auto-approval cannot let it in
    segment = reminder_segment(clinic)
    llm.script(adversarial_replies(GOOD_SMS, list(segment.placeholders))[kind])

    (variant,) = approvals.draft_variants([segment], engine=fast_engine)

    assert variant.status == VariantStatus.INVALID and variant.body == ""
    assert variant.rejections[0]["code"] == reason
    call = LLMCall.objects.get(variant=variant)
    assert call.outcome == reason
    with pytest.raises(ValueError):
        approvals.approve(variant, manager)
    booker.book()
    bodies = list(OutboundMessage.objects.values_list("body", "source"))
    assert bodies and all(source == "template:en/reminder.sms" for _, source in bodies)
    assert not any(
        bad in body
        for body, _ in bodies
        for bad in ("evil.example", "3:30pm", "$25", "555-201", "March 5", "patient_name", "late")
    )


def test_calls_scale_with_segments_not_messages(llm, clinic, booker, manager) -> None:
    llm.responder = good_reply
    dental = factories.AppointmentTypeFactory(
        name="Dental cleaning", specialties=[clinic.specialty]
    )
    patients = [
        factories.PatientFactory(
            home_location=clinic.location, preferred_language=lang, preferred_channel=channel
        )
        for lang in ("en", "es")
        for channel in ("sms", "email")
    ]
    appointments = [
        booker.book(patient, kind)
        for patient in patients
        for kind in (clinic.visit, dental)
        for _ in range(2)
    ]
    segments = approvals.segments_in_use()
    # 2 types x 2 languages x (reminder on 2 channels + confirmation/cancellation acks by SMS)
    assert len(segments) == 2 * 2 * (2 + 2)

    first = draft_missing_variants()
    again = draft_missing_variants()

    assert first["drafted"] == len(segments) and first.get("draft") == len(segments)
    assert again["drafted"] == 0
    for variant in MessageVariant.objects.filter(status=VariantStatus.DRAFT):
        approvals.approve(variant, manager)
    sources = set()
    for i in range(500):
        appointment = appointments[i % len(appointments)]
        patient = appointment.patient
        written = compose(
            patient,
            "reminder",
            patient.preferred_channel,
            appointment_facts(appointment, patient.preferred_language, link="https://x.test/r/1"),
            appointment.appointment_type,
        )
        sources.add((written.source, written.language, written.channel))
    assert len(llm.requests) == LLMCall.objects.count() == len(segments)
    assert {s for s, _, _ in sources} == {"llm"} and len(sources) == 4
    calls = LLMCall.objects.all()
    assert all(c.prompt_tokens > 0 and c.completion_tokens > 0 for c in calls)
    assert all(c.model_name == "fake-model" and c.outcome == "accepted" for c in calls)


def test_latency_is_recorded_in_milliseconds(llm, clinic) -> None:
    llm.latency_s = 0.06
    llm.script(Reply.draft(GOOD_SMS))

    (variant,) = approvals.draft_variants([reminder_segment(clinic)])

    call = variant.calls.get()
    assert call.latency_ms >= 60 and call.prompt_version == "en/reminder.v1"

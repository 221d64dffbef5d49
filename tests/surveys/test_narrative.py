"""The report narrative's checks (pure), the weekly e-mail's fallback and an LLM round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from comms.llm import LLMEngine
from surveys import reports
from surveys.models import LocationManager
from surveys.narrative import number_supported, quoted_spans, validate_narrative
from tests.fakes.openai_server import FakeOpenAI, Reply

COMMENTS = ["The wait was far too long today.", "Dr Ortiz listened to me and didn’t rush."]
FIGURES = {"nps": 41.6667, "nps_n": 12, "responses": 120, "nps_change": -5.0, "rate": 0.5}


def kinds(text: str) -> list[tuple[str, str]]:
    return [(p.kind, p.text) for p in validate_narrative(text, COMMENTS, FIGURES)]


# -- quotes -----------------------------------------------------------------------------------


def test_verbatim_quotes_pass():
    assert kinds('One patient wrote "The wait was far too long today."') == []
    assert kinds("Another: “listened to me and didn't rush”.") == []  # curly quotes/apostrophe


def test_quote_case_and_spacing_are_typography():
    assert kinds('"the wait  was far too LONG"') == []


def test_invented_or_altered_quotes_fail():
    assert kinds('A patient said "the wait was unbearable".') == [
        ("quote", "the wait was unbearable")
    ]
    assert kinds('"The wait was far too long yesterday"')[0][0] == "quote"


def test_quote_spanning_two_comments_fails():
    assert kinds('"too long today. Dr Ortiz"')[0][0] == "quote"


def test_numbers_inside_quotes_are_checked_as_quotes_not_figures():
    comments = ["Waited 45 minutes for 2 tests"]
    assert validate_narrative('"Waited 45 minutes for 2 tests"', comments, FIGURES) == []


# -- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["42", "41.7", "41.67", "120", "12", "5", "-5", "5.0", "0.5"])
def test_numbers_given_or_rounded_pass(token):
    assert number_supported(token, FIGURES.values())


@pytest.mark.parametrize("token", ["41", "43", "41.6", "121", "7", "1.5", "100"])
def test_numbers_not_given_fail(token):
    assert not number_supported(token, FIGURES.values())


def test_percent_thousands_and_signs():
    assert kinds("NPS was 42% on 120 responses, down 5 points.") == []
    assert kinds("NPS +41.7, change −5") == []
    assert number_supported("1,200", [1200])
    assert not number_supported("1,200", [120])


def test_invented_numbers_fail():
    assert kinds("NPS was 42 on 130 responses.") == [("number", "130")]
    assert kinds("Response rate reached 67%.") == [("number", "67")]


def test_numbers_inside_words_are_not_figures_but_dates_are():
    # "W12" is a label; a date's digits are numbers the model did not get.
    assert kinds("In week W12 NPS was 42.") == []
    assert ("number", "2024") in kinds("On 3 May 2024 NPS was 42.")


def test_empty_text_is_refused():
    assert kinds("   ") == [("empty", "")]


def test_quoted_spans_helper():
    assert quoted_spans('a "b" c “d”') == ["b", "d"]


# -- the weekly e-mail ------------------------------------------------------------------------


@pytest.fixture
def report_world(clinic, django_user_model):
    from surveys.models import Question
    from tests.surveys.test_insights import make_response

    questions = {
        q.code: q for q in Question.objects.filter(survey__language="en", survey__active=True)
    }
    w = {"location": clinic.location, "provider": clinic.provider, "visit": clinic.visit,
         "questions": questions}  # fmt: skip
    day = timezone.localdate() - timedelta(days=2)
    for score in (10, 9, 9, 8, 3, 10):
        make_response(w, day, score, likert={"listened": 4})
    make_response(w, day, 2, comment=("The wait was far too long today", "negative", ["wait_time"]))
    manager = django_user_model.objects.create_user("boss", "boss@example.org", "pw-boss-1")
    manager.groups.add(Group.objects.get(name="Manager"))
    LocationManager.objects.create(user=manager, location=clinic.location, weekly_report=True)
    quiet = django_user_model.objects.create_user("quiet", "quiet@example.org", "pw-quiet-1")
    LocationManager.objects.create(user=quiet, location=clinic.location, weekly_report=False)
    return clinic


@pytest.fixture(autouse=True)
def _locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.OPENAI_API_KEY = ""


def test_without_llm_the_plain_summary_is_sent(report_world):
    assert reports.send_weekly_reports() == 1
    [email] = mail.outbox
    assert email.to == ["boss@example.org"]
    assert "Riverside" in email.subject
    # 7 responses with NPS: 4 promoters, 2 detractors -> 29.
    assert "- NPS: 29, n=7" in email.body
    assert "- Responses: 7, n=7 (+7 vs the week before)" in email.body
    assert "Ana" not in email.body and "Zephyrine" not in email.body  # no patient names


def test_the_celery_task_sends_the_same(report_world):
    from surveys.report_tasks import send_weekly_reports

    assert send_weekly_reports.apply().get() == 1
    assert len(mail.outbox) == 1


def test_beat_runs_it_on_monday_mornings(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["weekly-reports"]
    assert entry["task"] == "surveys.report_tasks.send_weekly_reports"
    assert entry["schedule"].day_of_week == {1} and entry["schedule"].hour == {7}


def _engine(fake: FakeOpenAI) -> LLMEngine:
    return LLMEngine(api_key="k", model="m", base_url=fake.base_url, timeout_s=2, max_retries=0)


def test_a_checked_llm_narrative_is_sent_above_the_figures(report_world):
    good = 'NPS was 29 from 7 answers. One patient wrote "The wait was far too long today".'
    with FakeOpenAI() as fake:
        fake.script(Reply.json({"narrative": good}))
        assert reports.send_weekly_reports(engine=_engine(fake)) == 1
        prompt = str(fake.requests[0]["messages"])
    assert mail.outbox[0].body.startswith(good)
    assert "- NPS: 29, n=7" in mail.outbox[0].body
    assert "Ana" not in prompt and "Zephyrine" not in prompt


def test_an_llm_narrative_with_invented_facts_falls_back(report_world):
    bad = 'NPS jumped to 35 and a patient said "best clinic ever".'
    with FakeOpenAI() as fake:
        fake.script(Reply.json({"narrative": bad}))
        report = reports.build_report(report_world.location)
        text, problems = reports.llm_narrative(report, _engine(fake))
    assert text is None
    assert {p.kind for p in problems} == {"number", "quote"}
    with FakeOpenAI() as fake:
        fake.script(Reply.json({"narrative": bad}))
        reports.send_weekly_reports(engine=_engine(fake))
    assert "35" not in mail.outbox[0].body and mail.outbox[0].body.startswith("Riverside")


def test_llm_failure_falls_back(report_world):
    with FakeOpenAI() as fake:
        fake.script(Reply.error(500))
        reports.send_weekly_reports(engine=_engine(fake))
    assert mail.outbox[0].body.startswith("Riverside")

"""LLM survey proposals: stored inactive, flags shown to the Manager, approval activates."""

from __future__ import annotations

import importlib

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.urls import NoReverseMatch, clear_url_caches, reverse

from comms.models import LLMCall
from surveys import proposal_admin  # noqa: F401 - registers the admin (until surveys wires it)
from surveys.models import Survey
from surveys.proposals import SurveyProposal, approve_proposal, proposal_issues, propose
from tests.comms import test_llm_e2e as e2e
from tests.fakes.openai_server import Reply

pytestmark = pytest.mark.django_db

llm, manager = e2e.llm, e2e.manager  # shared fixtures

QUESTIONS = [
    {"kind": "nps", "wording": "How likely are you to recommend us to friends and family?",
     "scale_min": 0, "scale_max": 10},
    {"kind": "likert", "wording": "Don't you agree our wonderful staff listened to you?",
     "scale_min": 1, "scale_max": 5},
    {"kind": "likert", "wording": "Was the wait short and the room clean?",
     "scale_min": 1, "scale_max": 5},
    {"kind": "free_text", "wording": "What could we do better?",
     "scale_min": None, "scale_max": None},
]  # fmt: skip


@pytest.fixture(autouse=True)
def _proposal_urls() -> None:
    """Until surveys imports proposal_admin itself, the URLconf may predate its registration."""
    try:
        reverse("admin:surveys_surveyproposal_propose")
    except NoReverseMatch:
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
        clear_url_caches()


@pytest.fixture
def proposal(llm, clinic):
    llm.script(Reply.json({"questions": QUESTIONS}))
    survey, draft = propose(clinic.visit, "en")
    assert survey is not None
    return survey


def test_proposal_is_stored_inactive_with_its_questions_and_flags(proposal, clinic) -> None:
    assert isinstance(proposal, SurveyProposal) and not proposal.active
    assert proposal.source == "llm:en/survey_questions.v1"
    assert proposal.appointment_type == clinic.visit
    codes = list(proposal.questions.values_list("code", "kind"))
    assert codes == [("nps", "nps"), ("q2", "likert"), ("q3", "likert"), ("q4", "free_text")]
    flags = {(i.code, i.text) for i in proposal_issues(proposal)}
    assert ("leading_wording", "question 2: suggests the answer") in flags
    assert ("double_barrelled", "question 3: asks about two things at once") in flags
    call = LLMCall.objects.get(kind="survey_questions")
    assert call.outcome == "leading_wording" and call.prompt_tokens > 0


def test_flagged_proposal_cannot_be_approved_until_fixed(proposal, manager) -> None:
    with pytest.raises(ValueError, match="question 2"):
        approve_proposal(proposal, manager)
    proposal.questions.filter(code="q2").update(text="Did the staff listen to you?")
    proposal.questions.filter(code="q3").update(text="Was the wait short?")

    approved = approve_proposal(proposal, manager)

    assert approved.active and approved.approved_by == manager and approved.approved_at


def test_approval_replaces_the_active_survey_of_that_type(proposal, manager, clinic) -> None:
    old = Survey.objects.create(name="Old", appointment_type=clinic.visit, active=True)
    proposal.questions.filter(code__in=["q2", "q3"]).delete()
    proposal.questions.create(order=2, code="q5", kind="likert", text="Did we explain things?")

    approve_proposal(proposal, manager)

    old.refresh_from_db()
    assert not old.active


def test_front_desk_cannot_approve(proposal, django_user_model) -> None:
    desk = django_user_model.objects.create_user("desk", password="pw-123456", is_staff=True)
    desk.groups.add(Group.objects.get_or_create(name="Front desk")[0])
    with pytest.raises(PermissionDenied):
        approve_proposal(proposal, desk)


def test_failed_call_stores_nothing(llm, clinic) -> None:
    llm.script(Reply.refused())
    survey, draft = propose(clinic.visit, "en")
    assert survey is None and draft.issues[0].code == "llm_refusal"
    assert not SurveyProposal.objects.exists()
    assert LLMCall.objects.get().outcome == "llm_refusal"


def test_admin_propose_review_and_approve(client, llm, clinic, manager) -> None:
    client.force_login(manager)
    llm.script(Reply.json({"questions": QUESTIONS}))

    page = client.get(reverse("admin:surveys_surveyproposal_propose"))
    assert page.status_code == 200
    response = client.post(
        reverse("admin:surveys_surveyproposal_propose"),
        {"appointment_type": clinic.visit.pk, "language": "en"},
    )
    survey = SurveyProposal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:surveys_surveyproposal_change", args=[survey.pk])

    review = client.get(response["Location"]).content.decode()
    assert "question 2: suggests the answer" in review
    assert "question 3: asks about two things at once" in review

    approve = reverse("admin:surveys_surveyproposal_approve", args=[survey.pk])
    client.post(approve)
    survey.refresh_from_db()
    assert not survey.active  # flags still open
    survey.questions.filter(code="q2").update(text="Did the staff listen to you?")
    survey.questions.filter(code="q3").update(text="Was the room clean?")
    client.post(approve)
    survey.refresh_from_db()
    assert survey.active and survey.approved_by == manager


def test_front_desk_gets_403_from_proposal_pages(client, proposal, django_user_model) -> None:
    desk = django_user_model.objects.create_user("desk", password="pw-123456", is_staff=True)
    client.force_login(desk)
    assert client.get(reverse("admin:surveys_surveyproposal_propose")).status_code == 403
    approve = reverse("admin:surveys_surveyproposal_approve", args=[proposal.pk])
    assert client.post(approve).status_code == 403

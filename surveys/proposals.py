"""Survey questions proposed by the LLM: stored inactive, flagged, activated by a Manager.

A proposal is an ordinary `Survey` (source "llm:<prompt version>", inactive) with its questions,
so approval is nothing more than switching it on. Its issues are recomputed from the stored
questions every time they are shown, so a Manager who fixes a leading question sees the flag
go away. Stored questions use the app's fixed scale for their kind, whatever the model proposed.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone

from comms import approvals
from comms.drafts import Rejection
from comms.llm import LLMEngine
from comms.models import LLMCall
from comms.survey_drafts import SurveyDraft, SurveyQuestion, validate_survey
from scheduling.models import AppointmentType
from surveys.models import Question, QuestionKind, Survey

logger = logging.getLogger(__name__)

LLM_SOURCE_PREFIX = "llm:"
# The scale each stored kind is shown with (validate_survey checks the proposed one).
_SCALES: dict[str, tuple[int | None, int | None]] = {
    QuestionKind.NPS: (0, 10),
    QuestionKind.LIKERT: (1, 5),
    QuestionKind.RATING: (1, 10),
    QuestionKind.FREE_TEXT: (None, None),
}


class ProposalManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(source__startswith=LLM_SOURCE_PREFIX)


class SurveyProposal(Survey):
    """A survey the LLM proposed (a proxy: same table, its own admin for Managers)."""

    objects = ProposalManager()

    class Meta:
        proxy = True
        verbose_name = "LLM survey proposal"


def proposal_issues(survey: Survey) -> list[Rejection]:
    """Every rule the survey's current questions break (leading, double-barrelled, NPS...)."""
    questions = [
        SurveyQuestion(q.kind, q.text, *_SCALES.get(q.kind, (None, None)))
        for q in survey.questions.order_by("order")
    ]
    return validate_survey(survey.language, questions)


def propose(
    appointment_type: AppointmentType, language: str, engine: LLMEngine | None = None
) -> tuple[SurveyProposal | None, SurveyDraft]:
    """Ask the LLM for questions and store them as an inactive survey (None if it failed).

    The call is made outside any transaction and recorded as an `LLMCall` either way.
    """
    engine = engine or approvals.llm_engine()
    draft = engine.propose_survey(appointment_type.name, language)
    with transaction.atomic():
        survey = _store(appointment_type, draft) if draft.questions else None
        usage = draft.usage
        if usage is not None:
            LLMCall.objects.create(
                kind="survey_questions",
                segment_key=f"survey:{appointment_type.pk}:{language}",
                model_name=usage.model,
                prompt_version=draft.prompt_version,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                latency_ms=round(usage.latency_ms),
                outcome="accepted" if draft.accepted else str(draft.issues[0].code),
            )
    logger.info(
        "survey proposal type=%s language=%s stored=%s issues=%d",
        appointment_type.pk,
        language,
        survey.pk if survey else None,
        len(draft.issues),
    )
    return survey, draft


def _store(appointment_type: AppointmentType, draft: SurveyDraft) -> SurveyProposal:
    survey = SurveyProposal.objects.create(
        name=f"{appointment_type.name} (LLM proposal)"[:120],
        appointment_type=appointment_type,
        language=draft.language,
        active=False,
        source=f"{LLM_SOURCE_PREFIX}{draft.prompt_version}"[:80],
    )
    has_nps = False
    for order, q in enumerate(draft.questions, 1):
        # Codes are stable ids: the analysis reads the NPS answer by its code.
        code = "nps" if q.kind == QuestionKind.NPS and not has_nps else f"q{order}"
        has_nps = has_nps or code == "nps"
        Question.objects.create(
            survey=survey,
            order=order,
            code=code,
            kind=q.kind[:10],  # an unknown kind is kept so the Manager sees it flagged
            text=q.wording[:300],
            required=q.kind == QuestionKind.NPS,
        )
    return survey


@transaction.atomic
def approve_proposal(survey: Survey, user) -> Survey:
    """A Manager activates a proposal without open issues; it replaces the active survey of
    the same appointment type and language."""
    if not approvals.can_approve(user):
        raise PermissionDenied("only Managers approve surveys")
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    issues = proposal_issues(survey)
    if issues:
        raise ValueError("fix the flagged questions first: " + "; ".join(i.text for i in issues))
    Survey.objects.filter(
        appointment_type=survey.appointment_type_id, language=survey.language, active=True
    ).exclude(pk=survey.pk).update(active=False)
    survey.active = True
    survey.approved_by, survey.approved_at = user, timezone.now()
    survey.save(update_fields=["active", "approved_by", "approved_at"])
    logger.info("survey %s approved by user %s", survey.pk, user.pk)
    return survey

"""The patient's survey page, opened from a signed link: no login, first name only.

One URL does everything: GET shows the questions with any saved answers, POST saves them
("save and finish later") or saves and completes them. A link that was tampered with gets 400;
one that expired or whose survey is already answered gets 410. Input that is not a valid answer
(out-of-range choices, oversized text, NUL or undecodable bytes) is refused with a message and
nothing is saved. Free text is stored as typed and escaped by the template on output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import formats, timezone, translation
from django.views.decorators.cache import never_cache

from scheduling.links import BadLink, read_token
from surveys import responses, rollup_signals
from surveys.invitations import OPEN_STATUSES, TOKEN_PURPOSE, link_max_age_s
from surveys.models import Invitation, InvitationStatus, Question, QuestionKind
from surveys.page_text import LIKERT, MAX_TEXT, text_for

# C0 controls other than tab and newlines, and U+FFFD (what undecodable bytes arrive as).
_UNREADABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_SCALES = {
    QuestionKind.NPS: range(0, 11),
    QuestionKind.RATING: range(0, 11),
    QuestionKind.LIKERT: range(1, 5),
}


@dataclass
class Row:
    """One question as the template shows it."""

    question: Question
    name: str
    value: str = ""
    error: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)


def _problem(request: HttpRequest, problem: str, language: str | None = None) -> HttpResponse:
    languages = [language] if language else ["en", "es"]
    status = 410 if problem in ("used", "expired") else 400
    with translation.override(languages[0]):
        return render(
            request,
            "surveys/problem.html",
            {
                "LANGUAGE_CODE": languages[0],
                "texts": [text_for(lang) for lang in languages],
                "problem": problem,
            },
            status=status,
        )


def _invitation(token: str) -> tuple[Invitation | None, str]:
    try:
        invitation_id = int(read_token(TOKEN_PURPOSE, token, link_max_age_s()))
    except BadLink as exc:
        return None, exc.reason
    except ValueError:
        return None, "invalid"
    invitation = (
        Invitation.objects.select_related("patient", "survey", "appointment__location")
        .filter(pk=invitation_id, survey__isnull=False)
        .first()
    )
    if invitation is None or invitation.status == InvitationStatus.SKIPPED:
        return None, "invalid"
    return invitation, _state(invitation)


def _state(invitation: Invitation) -> str:
    if invitation.status == InvitationStatus.COMPLETED:
        return "used"
    if invitation.status == InvitationStatus.EXPIRED or invitation.expires_at <= timezone.now():
        return "expired"
    return ""


def _rows(questions: list[Question], language: str, values: dict[str, str]) -> list[Row]:
    rows = []
    for question in questions:
        name = f"q_{question.code}"
        if question.kind == QuestionKind.LIKERT:
            choices = [(str(v), label) for v, label in LIKERT.get(language, LIKERT["en"])]
        elif question.kind in _SCALES:
            choices = [(str(v), str(v)) for v in _SCALES[question.kind]]
        else:
            choices = []
        rows.append(Row(question, name, values.get(name, ""), choices=choices))
    return rows


def _saved_values(invitation: Invitation) -> dict[str, str]:
    response = getattr(invitation, "response", None) if invitation.pk else None
    if response is None:
        return {}
    return {
        f"q_{a.code}": (a.value_text if a.value_int is None else str(a.value_int))
        for a in response.answers.all()
    }


def _read(rows: list[Row], post: QueryDict, text: dict[str, str]) -> dict[Question, object]:
    """Validate the posted answers into `rows` (value, error); returns the clean values."""
    clean: dict[Question, object] = {}
    for row in rows:
        raw = post.get(row.name, "")
        kind = row.question.kind
        if kind == QuestionKind.FREE_TEXT:
            value = raw.replace("\r\n", "\n").strip()
            row.value = value
            if _UNREADABLE.search(value):
                row.error, row.value = text["err_bad_chars"], _UNREADABLE.sub("", value)
            elif len(value) > MAX_TEXT:
                row.error = text["err_too_long"].format(max=MAX_TEXT, count=len(value))
            clean[row.question] = value
            continue
        raw = raw.strip()
        row.value = raw if len(raw) <= 2 else ""
        if raw == "":
            clean[row.question] = None
        elif raw.isascii() and raw.isdigit() and int(raw) in _SCALES[kind]:
            clean[row.question] = int(raw)
        else:
            row.error = text["err_choice"]
    return clean


@never_cache
def survey_page(request: HttpRequest, token: str) -> HttpResponse:
    invitation, problem = _invitation(token)
    if invitation is None:
        return _problem(request, problem)
    language = invitation.survey.language
    if problem:
        return _problem(request, problem, language)
    text = text_for(language)
    questions = list(invitation.survey.questions.order_by("order", "pk"))
    with translation.override(language):
        if request.method == "POST":
            return _post(request, invitation, questions, language, text)
        if invitation.status in (InvitationStatus.SCHEDULED, InvitationStatus.SENT):
            with transaction.atomic():
                Invitation.objects.filter(pk=invitation.pk, status=invitation.status).update(
                    status=InvitationStatus.OPENED, opened_at=timezone.now()
                )
                rollup_signals.invitations_changed([invitation.pk])
        rows = _rows(questions, language, _saved_values(invitation))
        return _form(request, invitation, rows, language, text)


def _form(request, invitation, rows, language, text, *, status=200, saved_nothing=False):
    return render(
        request,
        "surveys/survey.html",
        {
            "LANGUAGE_CODE": language,
            "t": text,
            "first_name": invitation.patient.first_name,
            "rows": rows,
            "errors": [r for r in rows if r.error],
            "saved_nothing": saved_nothing,
            "max_text": MAX_TEXT,
        },
        status=status,
    )


def _post(request, invitation, questions, language, text) -> HttpResponse:
    rows = _rows(questions, language, {})
    clean = _read(rows, request.POST, text)
    if any(r.error for r in rows):
        return _form(request, invitation, rows, language, text, status=400, saved_nothing=True)
    finishing = request.POST.get("action") != "save"
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
        if locked is None or locked.status not in OPEN_STATUSES:
            return _problem(request, "used" if locked else "invalid", language)
        locked.survey, locked.appointment = invitation.survey, invitation.appointment
        response = responses.response_for(locked)
        responses.save_answers(response, clean)
        missing = [r for r in rows if r.question.required and clean.get(r.question) in (None, "")]
        if finishing and not missing:
            responses.complete(response)
            return render(request, "surveys/thanks.html", {"LANGUAGE_CODE": language, "t": text})
        responses.mark_partial(locked)
    if finishing:
        for row in missing:
            row.error = text["err_required"]
        return _form(request, invitation, rows, language, text, status=400)
    until = formats.date_format(
        invitation.expires_at.astimezone(invitation.appointment.location.zone), "DATE_FORMAT"
    )
    return render(
        request,
        "surveys/saved.html",
        {
            "LANGUAGE_CODE": language,
            "t": text,
            "saved_body": text["saved_body"].format(date=until),
            "again": request.path,
        },
    )

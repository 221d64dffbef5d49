"""Survey questions an LLM proposes for an appointment type, and the rules they must pass.

The rules are deliberately plain (regular expressions over accent-folded text) so a manager can
predict them: count bounds, known kinds with their scales, one NPS item, and no leading or
double-barrelled wording. Each problem names its question (1-based) for the approval screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from comms.drafts import LLMUsage, Reason, Rejection, language_rules, literal_rules
from comms.privacy import fold

SURVEY_MIN_QUESTIONS, SURVEY_MAX_QUESTIONS = 3, 12
# Accepted (min, max) scales per kind; free text has none.
SURVEY_SCALES: dict[str, tuple[tuple[int | None, int | None], ...]] = {
    "nps": ((0, 10),),
    "likert": ((1, 5), (1, 7)),
    "rating": ((1, 5), (1, 10)),
    "free_text": ((None, None),),
}
_LEADING = re.compile(
    r"\b(?:don'?t|do not|wouldn'?t|would not|isn'?t|aren'?t|didn'?t|did not) you (?:agree|think"
    r"|feel|love)\b|\bhow (?:great|excellent|wonderful|amazing|fantastic|outstanding)\b"
    r"|\b(?:our|the) (?:excellent|wonderful|amazing|caring|great|fantastic) \w+"
    r"|\bno (?:esta|estas|estaria|cree|crees|piensa) (?:de acuerdo|que)\b"
    r"|\b(?:que|lo) (?:tan )?(?:excelente|maravillos[oa]|genial|increible|estupend[oa])\b"
    r"|\bnuestr[oa]s? (?:excelente|maravillos[oa]|increible|estupend[oa])s?\b"
)
# Canonical NPS wording joins "friends and family"; that is one thing, not two.
_ONE_THING = re.compile(
    r"\b(?:friends (?:and|or) family|amigos (?:y|o) familiares|familiares (?:y|o) amigos"
    r"|familia (?:y|o) amigos)\b"
)
_TWO_THINGS = re.compile(r"\b(?:and|as well as|y|e|asi como)\b|&|/")


@dataclass(frozen=True)
class SurveyQuestion:
    """One proposed question; scales are inclusive integer bounds, None for free text."""

    kind: str
    wording: str
    scale_min: int | None = None
    scale_max: int | None = None


@dataclass(frozen=True)
class SurveyDraft:
    """An LLM-proposed question set for an appointment type, with every rule it breaks.

    Each issue names its question ("question 3: ...") so the manager sees which to fix; no
    issues means the set may be offered for approval.
    """

    appointment_type: str
    language: str
    prompt_version: str
    questions: tuple[SurveyQuestion, ...] = ()
    issues: tuple[Rejection, ...] = ()
    usage: LLMUsage | None = None

    @property
    def accepted(self) -> bool:
        return not self.issues and bool(self.questions)


def validate_survey(language: str, questions: list[SurveyQuestion]) -> list[Rejection]:
    """Every rule a proposed question set breaks: count, kinds, scales, NPS, wording."""
    out: list[Rejection] = []
    if len(questions) < SURVEY_MIN_QUESTIONS:
        text = f"{len(questions)} questions, fewer than {SURVEY_MIN_QUESTIONS}"
        out.append(Rejection(Reason.TOO_FEW_QUESTIONS, text))
    if len(questions) > SURVEY_MAX_QUESTIONS:
        text = f"{len(questions)} questions, more than {SURVEY_MAX_QUESTIONS}"
        out.append(Rejection(Reason.TOO_MANY_QUESTIONS, text))
    if not any(q.kind == "nps" for q in questions):
        out.append(Rejection(Reason.NPS_MISSING, "no NPS (0-10 recommend) question"))
    for i, q in enumerate(questions, 1):
        out += _question_rules(i, q)
    prose = fold(" ".join(q.wording for q in questions))
    out += language_rules(language, prose)
    return out


def _question_rules(number: int, q: SurveyQuestion) -> list[Rejection]:
    label = f"question {number}"
    if q.kind not in SURVEY_SCALES:
        return [Rejection(Reason.UNKNOWN_KIND, f"{label}: unknown kind {q.kind!r}")]
    out = []
    if (q.scale_min, q.scale_max) not in SURVEY_SCALES[q.kind]:
        text = f"{label}: {q.kind} cannot use scale {q.scale_min}-{q.scale_max}"
        out.append(Rejection(Reason.BAD_SCALE, text))
    wording = fold(q.wording)
    if not wording.strip():
        return [*out, Rejection(Reason.EMPTY, f"{label}: no wording")]
    if _LEADING.search(wording):
        out.append(Rejection(Reason.LEADING_WORDING, f"{label}: suggests the answer"))
    if _TWO_THINGS.search(_ONE_THING.sub(" ", wording)):
        out.append(Rejection(Reason.DOUBLE_BARRELLED, f"{label}: asks about two things at once"))
    contact = (Reason.URL_LITERAL, Reason.EMAIL_LITERAL, Reason.PHONE_LITERAL)
    out += [
        Rejection(r.code, f"{label}: {r.text}") for r in literal_rules(wording) if r.code in contact
    ]
    return out

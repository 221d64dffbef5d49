"""The LLM engine: drafts message variants per segment and proposes survey questions.

It talks to any OpenAI-compatible server through the official `openai` client with structured
output, so a reply is either a typed object or a clear failure. Every call is bounded (timeout at
most 30 s, few retries), every outgoing prompt passes the identifier guard first, and every
outcome — accepted, rejected by the validator, refused, timed out — comes back as data with a
reason code rather than an exception, so callers fall back to the template in one place.

Prompts are versioned Jinja2 templates under templates/prompts/<language>/; the version used is
stored with each draft so a manager can tell which prompt wrote what.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import openai
import pydantic
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from comms.drafts import (
    EMAIL_BODY_MAX_CHARS,
    OPT_OUT_LINE,
    PURPOSES,
    REPLY_KEYWORDS_LINE,
    SMS_MAX_SEGMENTS,
    WORST_CASE_FACTS,
    Draft,
    LLMUsage,
    Reason,
    Rejection,
    Segment,
    validate,
)
from comms.privacy import PatientIdentifiers, check_prompt
from comms.segments import to_gsm_safe
from comms.survey_drafts import (
    SURVEY_MAX_QUESTIONS,
    SURVEY_MIN_QUESTIONS,
    SurveyDraft,
    SurveyQuestion,
    validate_survey,
)

logger = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "templates" / "prompts"
PROMPT_VERSION = "v1"
MAX_TIMEOUT_S = 30.0
_LANGUAGE_NAMES = {"en": "English", "es": "español"}
_GSM7_UNITS_PER_SEGMENT = 153

Model = TypeVar("Model", bound=BaseModel)


class MessageOut(BaseModel):
    """What the model must return for a message (the JSON schema sent as response_format)."""

    subject: str
    body: str


class QuestionOut(BaseModel):
    """One proposed survey question. `kind` is a plain string so an unknown kind reaches our
    rules (and the manager) as a flagged question instead of failing the whole reply."""

    kind: str
    wording: str
    scale_min: int | None
    scale_max: int | None


class SurveyOut(BaseModel):
    """What the model must return for a survey proposal."""

    questions: list[QuestionOut]


class LLMEngine:
    """Drafts via an OpenAI-compatible chat completions API; never raises for a bad reply.

    Raises `IdentifierLeak` (before any network traffic) if a prompt would carry an identifier.
    """

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        max_retries: int = 2,
        allow_first_name: bool = False,
        prompts_dir: Path = PROMPTS_DIR,
    ) -> None:
        if not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"LLM timeout must be in (0, {MAX_TIMEOUT_S}] seconds")
        if not 0 <= max_retries <= 3:
            raise ValueError("LLM max_retries must be between 0 and 3")
        self.model = model
        self.allow_first_name = allow_first_name
        self.client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )
        self._prompts = SandboxedEnvironment(
            loader=FileSystemLoader(prompts_dir),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,  # prompts are plain text, never HTML
        )

    def draft_variant(
        self, segment: Segment, identifiers: Iterable[PatientIdentifiers] = ()
    ) -> Draft:
        """Ask the model for one message variant for `segment` and validate it.

        `identifiers` are checked against the prompt as a safety net; the prompt itself is
        built from the segment only. Latency is recorded in milliseconds.
        """
        name = self._prompt_name(segment)
        if not PURPOSES[segment.purpose].llm_allowed:
            why = f"{segment.purpose} messages are written by templates only"
            return Draft(segment, name, rejections=(Rejection(Reason.LLM_NOT_ALLOWED, why),))
        messages = [
            {"role": "system", "content": self._system(segment.language)},
            {"role": "user", "content": self._render(name, **self._message_context(segment))},
        ]
        out, usage, failure = self._call(messages, MessageOut, identifiers, segment.key)
        if failure:
            return Draft(segment, name, rejections=(failure,), usage=usage)
        assert out is not None
        body = out.body.strip()
        subject = out.subject.strip() if segment.channel == "email" else ""
        if segment.channel == "sms":
            # Curly quotes and dashes are the model's typography, not its words; mapping them
            # to GSM-7 saves a pointless rejection (or a doubled SMS bill).
            body = to_gsm_safe(body)
        rejections = tuple(validate(segment, body, subject))
        logger.info(
            "llm draft segment=%s prompt=%s accepted=%s reasons=%s",
            segment.key,
            name,
            not rejections,
            ",".join(r.code for r in rejections) or "-",
        )
        if rejections:
            return Draft(segment, name, rejections=rejections, usage=usage, rejected_body=body)
        return Draft(segment, name, body=body, subject=subject, usage=usage)

    def propose_survey(
        self,
        appointment_type: str,
        language: str,
        *,
        reading_level: str = "plain",
        identifiers: Iterable[PatientIdentifiers] = (),
    ) -> SurveyDraft:
        """Ask the model for survey questions for an appointment type, flagged by our rules."""
        name = f"{language}/survey_questions.{PROMPT_VERSION}"
        messages = [
            {"role": "system", "content": self._system(language)},
            {
                "role": "user",
                "content": self._render(
                    name,
                    appointment_type=appointment_type,
                    reading_level=reading_level,
                    min_questions=SURVEY_MIN_QUESTIONS,
                    max_questions=min(SURVEY_MAX_QUESTIONS, 8),
                ),
            },
        ]
        out, usage, failure = self._call(messages, SurveyOut, identifiers, f"survey-{language}")
        if failure:
            return SurveyDraft(appointment_type, language, name, issues=(failure,), usage=usage)
        assert out is not None
        questions = tuple(
            SurveyQuestion(q.kind.strip().lower(), q.wording.strip(), q.scale_min, q.scale_max)
            for q in out.questions
        )
        issues = tuple(validate_survey(language, list(questions)))
        return SurveyDraft(appointment_type, language, name, questions, issues, usage)

    # -- internals --------------------------------------------------------------------------

    def _prompt_name(self, segment: Segment) -> str:
        """Purpose-specific prompt if there is one (e.g. en/reminder.v1), else the generic one."""
        specific = f"{segment.language}/{segment.purpose}.{PROMPT_VERSION}"
        if specific + ".j2" in self._prompts.list_templates():
            return specific
        return f"{segment.language}/message.{PROMPT_VERSION}"

    def _render(self, name: str, **context: Any) -> str:
        return self._prompts.get_template(name + ".j2").render(**context).strip()

    def _system(self, language: str) -> str:
        name = f"{language}/system.{PROMPT_VERSION}"
        return self._render(name, language_name=_LANGUAGE_NAMES[language])

    def _message_context(self, segment: Segment) -> dict[str, Any]:
        purpose = PURPOSES[segment.purpose]
        return {
            **{k: getattr(segment, k) for k in segment.__dataclass_fields__},
            "placeholders": segment.placeholders,
            "braced": ["{" + p + "}" for p in segment.placeholders],
            "opt_out_line": OPT_OUT_LINE[segment.language],
            "reply_keywords_line": REPLY_KEYWORDS_LINE[segment.language]
            if purpose.reply_keywords and segment.channel == "sms"
            else "",
            "char_budget": _char_budget(segment),
        }

    def _call(
        self,
        messages: list[dict[str, str]],
        schema: type[Model],
        identifiers: Iterable[PatientIdentifiers],
        log_id: str,
    ) -> tuple[Model | None, LLMUsage, Rejection | None]:
        """One guarded, timed structured-output call. Returns (parsed, usage, failure)."""
        check_prompt(messages, identifiers, allow_first_name=self.allow_first_name)
        started = time.perf_counter()
        completion = None
        failure: Rejection | None = None
        try:
            completion = self.client.chat.completions.parse(
                model=self.model, messages=messages, response_format=schema
            )
        except openai.APITimeoutError:
            failure = Rejection(Reason.LLM_TIMEOUT, "the LLM did not answer in time")
        except openai.APIStatusError as exc:
            failure = Rejection(Reason.LLM_ERROR, f"the LLM server answered HTTP {exc.status_code}")
        except openai.APIConnectionError:
            failure = Rejection(Reason.LLM_ERROR, "the LLM server could not be reached")
        except openai.LengthFinishReasonError:
            failure = Rejection(Reason.TRUNCATED, "the LLM reply was cut off")
        except openai.ContentFilterFinishReasonError:
            failure = Rejection(Reason.LLM_REFUSAL, "the LLM reply was filtered")
        except pydantic.ValidationError:
            failure = Rejection(Reason.INVALID_OUTPUT, "the LLM reply is not the requested JSON")
        latency_ms = (time.perf_counter() - started) * 1000
        usage = LLMUsage(self.model, latency_ms=latency_ms)
        parsed = None
        if completion is not None:
            if completion.usage:
                usage = LLMUsage(
                    self.model,
                    completion.usage.prompt_tokens,
                    completion.usage.completion_tokens,
                    latency_ms,
                )
            message = completion.choices[0].message
            if message.refusal:
                failure = Rejection(Reason.LLM_REFUSAL, "the LLM declined to write this")
            elif message.parsed is None:
                failure = Rejection(Reason.INVALID_OUTPUT, "the LLM reply is empty")
            else:
                parsed = message.parsed
        logger.info(
            "llm call id=%s outcome=%s latency_ms=%.0f prompt_tokens=%d completion_tokens=%d",
            log_id,
            failure.code if failure else "ok",
            latency_ms,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
        return parsed, usage, failure


def _char_budget(segment: Segment) -> int:
    """Characters the model may use, placeholders included, so the filled message still fits.

    SMS: two GSM-7 segments minus what the worst-case facts add over their placeholders.
    """
    facts = WORST_CASE_FACTS[segment.language]
    growth = sum(len(facts[p]) - len(p) - 2 for p in segment.placeholders)
    total = SMS_MAX_SEGMENTS * _GSM7_UNITS_PER_SEGMENT if segment.channel == "sms" else 0
    total = total or EMAIL_BODY_MAX_CHARS
    # Leave a margin: models count characters loosely.
    return int((total - growth) * 0.9)

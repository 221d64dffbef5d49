"""Write one patient message: an approved or fresh LLM variant when it passes, a template otherwise.

`Writer.write(WriteRequest) -> WrittenMessage` is the whole interface. Two engines sit behind it:

- `TemplateEngine`: Jinja2 templates under templates/messages/<language>/, sandboxed and with
  strict undefined (a missing fact is a bug, not a blank). Always available; the fallback.
- `comms.llm.LLMEngine`: drafts wording per segment with placeholders; `comms.drafts` validates
  it. Facts are filled here, locally, and only after validation.

Either way the facts come from the caller (the database), never from a model. When an LLM
variant is not used the result says why (`fallback_reason`, a `comms.drafts.Reason` code).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from comms.drafts import Draft, Reason, Rejection, Segment, budget, render
from comms.llm import LLMEngine
from comms.privacy import IdentifierLeak, PatientIdentifiers
from comms.segments import SegmentInfo, count_segments, to_gsm_safe

__all__ = [
    "MemoryVariantCache",
    "TemplateEngine",
    "VariantCache",
    "WriteRequest",
    "WrittenMessage",
    "Writer",
    "render",
]

logger = logging.getLogger(__name__)

MESSAGES_DIR = Path(__file__).resolve().parent.parent / "templates" / "messages"


@dataclass(frozen=True)
class WriteRequest:
    """One message to write. `facts` maps placeholder names to display-ready strings.

    `variant` is an approved draft the caller chose (e.g. from its approval table); without
    one the writer asks its cache or the LLM. `identifiers` feed the prompt guard only.
    """

    segment: Segment
    facts: Mapping[str, str]
    identifiers: PatientIdentifiers | None = None
    variant: Draft | None = None


@dataclass(frozen=True)
class WrittenMessage:
    """The text a patient receives, and where it came from.

    `source` is 'llm' (then `variant_id` and `prompt_version` are set) or 'template' (then
    `template_name` is set, and `fallback_reason` says why an LLM variant was not used, or is
    None when none was asked for). `sms` is the segment count for SMS, None for email.
    """

    channel: str
    language: str
    purpose: str
    body: str
    subject: str = ""
    html: str = ""
    source: Literal["template", "llm"] = "template"
    template_name: str | None = None
    variant_id: str | None = None
    prompt_version: str | None = None
    fallback_reason: str | None = None
    fallback_detail: str = ""
    sms: SegmentInfo | None = None


class VariantCache(Protocol):
    """Where drafts live between messages of one segment (the Django layer keeps approved ones)."""

    def get(self, segment: Segment) -> Draft | None:
        """The draft to use for `segment`, or None to ask the LLM."""

    def put(self, draft: Draft) -> None:
        """Remember a fresh draft (accepted or not) for its segment."""


class MemoryVariantCache:
    """In-process cache. Accepted drafts are kept; failures for `retry_after_s` seconds, so one
    bad reply or outage costs one call per segment, not one per message."""

    def __init__(
        self, retry_after_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._drafts: dict[Segment, tuple[Draft, float]] = {}

    def get(self, segment: Segment) -> Draft | None:
        found = self._drafts.get(segment)
        if found is None:
            return None
        draft, stored_at = found
        if not draft.accepted and self._clock() - stored_at > self.retry_after_s:
            return None
        return draft

    def put(self, draft: Draft) -> None:
        self._drafts[draft.segment] = (draft, self._clock())


@dataclass(frozen=True)
class _Rendered:
    name: str
    body: str
    subject: str = ""
    html: str = ""


class TemplateEngine:
    """Renders templates/messages/<language>/<purpose>.<channel>[.subject|.txt|.html].j2."""

    def __init__(self, root: Path = MESSAGES_DIR) -> None:
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(root),
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html.j2")),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, segment: Segment, facts: Mapping[str, str]) -> _Rendered:
        """Render the template for the segment's purpose, language and channel.

        Raises `jinja2.UndefinedError` if a fact the template uses is missing.
        """
        base = f"{segment.language}/{segment.purpose}.{segment.channel}"
        if segment.channel == "sms":
            return _Rendered(base, self._render(base + ".j2", facts))
        subject = self._render(base + ".subject.j2", facts)
        return _Rendered(
            base,
            body=self._render(base + ".txt.j2", facts),
            subject=subject,
            html=self._render(base + ".html.j2", {**facts, "subject": subject}),
        )

    def wrap_variant(
        self, language: str, subject: str, variant_text: str, facts: Mapping[str, str]
    ) -> _Rendered:
        """Fill an LLM email variant and put it in the same sign-off and layout as templates."""
        base = f"{language}/_variant.email"
        html_context = {"subject": subject, "paragraphs": _html_paragraphs(variant_text, facts)}
        return _Rendered(
            base,
            body=self._render(base + ".txt.j2", {"body": render(variant_text, facts)}),
            subject=subject,
            html=self._render(base + ".html.j2", html_context),
        )

    def _render(self, name: str, context: Mapping[str, object]) -> str:
        return self.env.get_template(name).render(**context).strip()


class Writer:
    """Chooses between an LLM variant and the template for each message; never sends anything.

    Without an `llm` it is a template writer. `transliterate_sms_accents` strips accents GSM-7
    lacks (á í ó ú) from SMS facts, for clinics that prefer the cheaper encoding.
    """

    def __init__(
        self,
        templates: TemplateEngine | None = None,
        llm: LLMEngine | None = None,
        cache: VariantCache | None = None,
        *,
        transliterate_sms_accents: bool = False,
    ) -> None:
        self.templates = templates or TemplateEngine()
        self.llm = llm
        self.cache = cache
        self.transliterate_sms_accents = transliterate_sms_accents

    def write(self, request: WriteRequest) -> WrittenMessage:
        """Write the message for `request`: a valid LLM variant, else the template."""
        segment = request.segment
        facts = self._channel_facts(segment, request.facts)
        draft, failure = self._variant(request)
        if draft is not None and draft.accepted:
            # Drafts were budgeted with worst-case facts; real facts can still be longer.
            over = budget(segment, draft.body, facts)
            if not over or self._no_dearer_than_template(segment, draft, facts):
                return self._from_variant(segment, draft, facts)
            failure = over[0]
        elif draft is not None:
            failure = draft.rejections[0]
        message = self._from_template(segment, facts, failure)
        if failure:
            logger.info("writer fallback segment=%s reason=%s", segment.key, failure.code)
        return message

    def draft_variant(self, segment: Segment) -> Draft:
        """Draft (or fetch from cache) a variant for `segment`, e.g. for manager approval."""
        if self.llm is None:
            raise RuntimeError("no LLM is configured")
        cached = self.cache.get(segment) if self.cache else None
        if cached is not None:
            return cached
        draft = self.llm.draft_variant(segment)
        if self.cache:
            self.cache.put(draft)
        return draft

    def _variant(self, request: WriteRequest) -> tuple[Draft | None, Rejection | None]:
        if request.variant is not None:
            if request.variant.segment != request.segment:
                raise ValueError("the approved variant belongs to another segment")
            return request.variant, None
        if self.llm is None:
            return None, None
        cached = self.cache.get(request.segment) if self.cache else None
        if cached is not None:
            return cached, None
        identifiers = [request.identifiers] if request.identifiers else []
        try:
            draft = self.llm.draft_variant(request.segment, identifiers)
        except IdentifierLeak as leak:
            # Not cached: the leak is a property of this request, not of the segment.
            logger.warning("prompt refused segment=%s kinds=%s", request.segment.key, leak.kinds)
            return None, Rejection(Reason.IDENTIFIER_LEAK, str(leak))
        if self.cache:
            self.cache.put(draft)
        return draft, None

    def _no_dearer_than_template(
        self, segment: Segment, draft: Draft, facts: dict[str, str]
    ) -> bool:
        """True if an SMS over budget only because of its facts costs no more than the template.

        Facts with á í ó ú (a Spanish clinic name, say) push any text into UCS-2; the template
        would pay the same, so refusing the variant would save nothing.
        """
        if segment.channel != "sms":
            return False
        variant = count_segments(render(draft.body, facts)).segments
        return variant <= count_segments(self.templates.render(segment, facts).body).segments

    def _channel_facts(self, segment: Segment, facts: Mapping[str, str]) -> dict[str, str]:
        if segment.channel != "sms":
            return {k: str(v) for k, v in facts.items()}
        return {
            k: to_gsm_safe(str(v), transliterate_accents=self.transliterate_sms_accents)
            for k, v in facts.items()
        }

    def _from_variant(
        self, segment: Segment, draft: Draft, facts: dict[str, str]
    ) -> WrittenMessage:
        common = {
            "channel": segment.channel,
            "language": segment.language,
            "purpose": segment.purpose,
            "source": "llm",
            "variant_id": draft.variant_id,
            "prompt_version": draft.prompt_version,
        }
        if segment.channel == "sms":
            filled = render(draft.body, facts)
            return WrittenMessage(body=filled, sms=count_segments(filled), **common)
        wrapped = self.templates.wrap_variant(segment.language, draft.subject, draft.body, facts)
        return WrittenMessage(
            body=wrapped.body, subject=wrapped.subject, html=wrapped.html, **common
        )

    def _from_template(
        self, segment: Segment, facts: dict[str, str], failure: Rejection | None
    ) -> WrittenMessage:
        rendered = self.templates.render(segment, facts)
        return WrittenMessage(
            channel=segment.channel,
            language=segment.language,
            purpose=segment.purpose,
            body=rendered.body,
            subject=rendered.subject,
            html=rendered.html,
            template_name=rendered.name,
            fallback_reason=failure.code.value if failure else None,
            fallback_detail=failure.text if failure else "",
            sms=count_segments(rendered.body) if segment.channel == "sms" else None,
        )


def _html_paragraphs(variant_text: str, facts: Mapping[str, str]) -> list[Markup]:
    """A validated variant as escaped HTML paragraphs, filled; the link becomes an anchor."""
    paragraphs = []
    for chunk in re.split(r"\n\s*\n", variant_text.strip()):
        parts = []
        for piece in re.split(r"(\{[a-z_]+\})", chunk):
            name = piece[1:-1] if piece.startswith("{") else None
            if name == "link":
                parts.append(Markup('<a href="{0}">{0}</a>').format(facts["link"]))
            else:
                parts.append(_lines(facts[name] if name else piece))
        paragraphs.append(Markup("").join(parts))
    return paragraphs


def _lines(text: str) -> Markup:
    return Markup("<br>\n").join(escape(line) for line in text.split("\n"))

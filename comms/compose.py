"""Turn facts into the words a patient reads, through the writer (templates or LLM variants)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from comms.drafts import Segment
from comms.writer import Writer, WriteRequest, WrittenMessage
from scheduling.models import AppointmentType, Patient

if TYPE_CHECKING:
    from comms.models import OutboundMessage

_writer: Writer | None = None


def writer() -> Writer:
    """The process's writer: templates, plus approved LLM variants (comms.approvals). It never
    calls an LLM: drafting happens offline, and only approved wording reaches patients."""
    global _writer
    if _writer is None:
        from comms.approvals import ApprovedWriter  # here: comms.approvals imports this module

        _writer = ApprovedWriter()
    return _writer


def set_writer(new: Writer | None) -> None:
    """Replace the process's writer (None: back to the default on next use)."""
    global _writer
    _writer = new


def segment_for(
    purpose: str, channel: str, language: str, appointment_type: AppointmentType | None = None
) -> Segment:
    """The non-identifying description of a message, the key for variants and approvals."""
    if appointment_type is None:
        return Segment(purpose=purpose, language=language, appointment_type="any", channel=channel)
    prep = (appointment_type.preparation_instructions_es if language == "es" else "") or (
        appointment_type.preparation_instructions
    )
    return Segment(
        purpose=purpose,
        language=language,
        appointment_type=appointment_type.name,
        channel=channel,
        visit=appointment_type.visit_kind,
        prep=prep,
    )


def compose(
    patient: Patient,
    purpose: str,
    channel: str,
    facts: dict[str, str],
    appointment_type: AppointmentType | None = None,
) -> WrittenMessage:
    language = patient.preferred_language if patient.preferred_language in ("en", "es") else "en"
    segment = segment_for(purpose, channel, language, appointment_type)
    return writer().write(WriteRequest(segment=segment, facts=facts))


def source_label(written: WrittenMessage) -> str:
    if written.source == "llm":
        return f"llm:{written.variant_id}"
    suffix = f" (fallback: {written.fallback_reason})" if written.fallback_reason else ""
    return f"template:{written.template_name}{suffix}"[:80]


def enqueue_written(written: WrittenMessage, **row: Any) -> tuple[OutboundMessage, bool]:
    """Queue `written` in the outbox: its text, language and source, plus the row's other
    fields (key, patient, channel, purpose, due_at, …) as `comms.outbox.enqueue` takes them."""
    from comms.outbox import enqueue

    return enqueue(
        body=written.body,
        subject=written.subject,
        html=written.html,
        language=written.language,
        source=source_label(written),
        **row,
    )

"""LLM message variants: drafted offline, approved by a Manager, then used for every patient.

The send path never talks to an LLM. `draft_variants` (run by a task, a command or the admin)
asks the model once per segment and stores the result as a `MessageVariant`; a Manager approves
it (or a purpose marked low-risk approves valid drafts automatically); `ApprovedWriter`, the
writer `comms.compose` uses, fills only approved variants with facts from the database and uses
the template for everything else. Every LLM call leaves an `LLMCall` row: tokens, latency and
outcome.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from comms import compose as compose_module
from comms.compose import segment_for
from comms.drafts import PURPOSES, Draft, Reason, Rejection, Segment, validate
from comms.llm import LLMEngine
from comms.models import LLMCall, MessageVariant, PurposeApproval, VariantStatus
from comms.privacy import IdentifierLeak
from comms.writer import Writer, WriteRequest, WrittenMessage
from scheduling.models import Appointment, AppointmentStatus, AppointmentType

logger = logging.getLogger(__name__)

MANAGER_GROUP = "Manager"
AWAITING_APPROVAL = "awaiting_approval"
# A segment whose last draft failed is not re-drafted sooner than this: one bad reply or an
# outage costs one call per segment per hour, not one per sweep.
RETRY_INVALID_AFTER = timedelta(hours=1)
# Purposes worded per appointment type, and the channels they go out on (None: the patient's).
_TYPED_PURPOSES: tuple[tuple[str, str | None], ...] = (
    ("reminder", None),
    ("confirmation_ack", "sms"),
    ("cancellation_ack", "sms"),
)


class LLMNotConfigured(RuntimeError):
    """OPENAI_API_KEY is not set: the clinic runs on templates only."""


def llm_configured() -> bool:
    return bool(settings.OPENAI_API_KEY)


def llm_engine() -> LLMEngine:
    """The LLM engine from settings; raises `LLMNotConfigured` without OPENAI_API_KEY."""
    if not llm_configured():
        raise LLMNotConfigured("OPENAI_API_KEY is not set; messages use templates only")
    return LLMEngine(
        api_key=settings.OPENAI_API_KEY,
        model=settings.OPENAI_MODEL,
        base_url=settings.OPENAI_BASE_URL or None,
        timeout_s=float(settings.OPENAI_TIMEOUT_S),
        allow_first_name=settings.LLM_ALLOW_FIRST_NAME,
    )


def can_approve(user) -> bool:
    """Managers (and superusers) approve wording patients will read; front desk cannot."""
    return bool(
        user.is_active and (user.is_superuser or user.groups.filter(name=MANAGER_GROUP).exists())
    )


# --------------------------------------------------------------------------- the variant store


def _as_draft(segment: Segment, row: MessageVariant) -> Draft | None:
    """The stored variant as a writer `Draft`, re-validated: a row edited in the database
    behind the validator's back is not sent."""
    if validate(segment, row.body, row.subject):
        logger.warning("stored variant %s no longer validates; using the template", row.pk)
        return None
    return Draft(segment, row.prompt_version, body=row.body, subject=row.subject)


class ApprovedVariants:
    """`VariantCache` over `MessageVariant`: `get` returns only an approved variant."""

    def get(self, segment: Segment) -> Draft | None:
        row = self.current(segment)
        if row is None or row.status != VariantStatus.APPROVED:
            return None
        return _as_draft(segment, row)

    def current(self, segment: Segment) -> MessageVariant | None:
        """The approved variant for the segment, else the newest one waiting; one query."""
        return (
            MessageVariant.objects.filter(
                segment_key=segment.key,
                status__in=(VariantStatus.APPROVED, VariantStatus.DRAFT),
            )
            # "approved" sorts before "draft".
            .order_by("status", "-created_at")
            .only("status", "body", "subject", "prompt_version")
            .first()
        )

    def put(self, draft: Draft) -> None:
        store(draft)


class ApprovedWriter(Writer):
    """The patient-path writer: approved variants or templates, never an LLM call."""

    def __init__(self, variants: ApprovedVariants | None = None, **kwargs) -> None:
        super().__init__(llm=None, cache=None, **kwargs)
        self.variants = variants or ApprovedVariants()

    def write(self, request: WriteRequest) -> WrittenMessage:
        if request.variant is not None or not PURPOSES[request.segment.purpose].llm_allowed:
            return super().write(request)
        row = self.variants.current(request.segment)
        if row is not None and row.status == VariantStatus.APPROVED:
            draft = _as_draft(request.segment, row)
            if draft is not None:
                return super().write(dataclasses.replace(request, variant=draft))
        written = super().write(request)
        if row is not None and row.status == VariantStatus.DRAFT:
            # Staff can see on the message that wording is waiting for them.
            written = dataclasses.replace(written, fallback_reason=AWAITING_APPROVAL)
        return written


def install_writer() -> Writer:
    """Make `comms.compose` use approved variants (it does by default; this resets it)."""
    new = ApprovedWriter()
    compose_module.set_writer(new)
    return new


install = install_writer


def _rejections_json(rejections: Iterable[Rejection]) -> list[dict[str, str]]:
    return [{"code": str(r.code), "text": r.text} for r in rejections]


def _auto_approves(purpose: str) -> bool:
    return PurposeApproval.objects.filter(purpose=purpose, auto_approve=True).exists()


@transaction.atomic
def store(draft: Draft, *, kind: str = "message_variant") -> MessageVariant:
    """Save a fresh draft and its LLM call. Valid drafts wait for approval unless their
    purpose is auto-approved; refused ones are kept, invalid, with their reasons."""
    segment = draft.segment
    status = VariantStatus.INVALID
    auto = False
    if draft.accepted:
        auto = _auto_approves(segment.purpose)
        status = VariantStatus.APPROVED if auto else VariantStatus.DRAFT
        if auto:
            _retire_approved(segment.key)
    usage = draft.usage
    row = MessageVariant.objects.create(
        segment_key=segment.key,
        purpose=segment.purpose,
        language=segment.language,
        appointment_type=segment.appointment_type,
        channel=segment.channel,
        tone=segment.tone,
        visit=segment.visit,
        body=draft.body,
        subject=draft.subject,
        rejected_body=draft.rejected_body,
        rejections=_rejections_json(draft.rejections),
        prompt_version=draft.prompt_version,
        model_name=usage.model if usage else "",
        variant_hash=draft.variant_id or "",
        status=status,
        auto_approved=auto,
        reviewed_at=timezone.now() if auto else None,
    )
    if usage is not None:  # None: no call was made (purpose not allowed, prompt refused)
        LLMCall.objects.create(
            kind=kind,
            segment_key=segment.key,
            model_name=usage.model,
            prompt_version=draft.prompt_version,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            latency_ms=round(usage.latency_ms),
            outcome="accepted" if draft.accepted else str(draft.rejections[0].code),
            variant=row,
        )
    logger.info("variant %s stored segment=%s status=%s", row.pk, segment.key, status)
    return row


def _retire_approved(segment_key: str) -> None:
    MessageVariant.objects.filter(segment_key=segment_key, status=VariantStatus.APPROVED).update(
        status=VariantStatus.RETIRED
    )


def draft_variants(
    segments: Iterable[Segment], engine: LLMEngine | None = None
) -> list[MessageVariant]:
    """Ask the LLM once per distinct segment (purposes it may word) and store each draft.

    Network calls happen outside any transaction; each result is stored in its own.
    """
    engine = engine or llm_engine()
    stored: list[MessageVariant] = []
    for segment in dict.fromkeys(segments):  # distinct, in order
        if not PURPOSES[segment.purpose].llm_allowed:
            continue
        try:
            draft = engine.draft_variant(segment)
        except IdentifierLeak as leak:
            # e.g. a phone number in the appointment type's preparation text: never sent.
            why = Rejection(Reason.IDENTIFIER_LEAK, str(leak))
            draft = Draft(segment, "-", rejections=(why,))
        stored.append(store(draft))
    return stored


def segments_in_use(now: datetime | None = None, days: int = 14) -> list[Segment]:
    """Segments the next `days` days of booked visits need: purpose x language x appointment
    type x channel (the patient's preferred channel), in one query plus the types."""
    now = now or timezone.now()
    combos = (
        Appointment.objects.filter(
            start__gte=now,
            start__lt=now + timedelta(days=days),
            status__in=(AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED),
        )
        .values_list(
            "appointment_type_id", "patient__preferred_language", "patient__preferred_channel"
        )
        .distinct()
    )
    combos = sorted(set(combos), key=lambda c: (c[0], c[1] or "", c[2] or ""))
    types = AppointmentType.objects.in_bulk({c[0] for c in combos})
    segments: dict[Segment, None] = {}
    for type_id, language, preferred in combos:
        language = language if language in ("en", "es") else "en"
        for purpose, channel in _TYPED_PURPOSES:
            channel = channel or (preferred if preferred in ("sms", "email") else "sms")
            segments[segment_for(purpose, channel, language, types[type_id])] = None
    return list(segments)


def segments_needing_drafts(segments: Iterable[Segment]) -> list[Segment]:
    """Those without an approved or waiting variant, nor a failed draft in the last hour.

    A rejected variant does not cover its segment: the next sweep offers fresh wording.
    """
    segments = list(dict.fromkeys(segments))
    keys = [s.key for s in segments]
    covered = set(
        MessageVariant.objects.filter(segment_key__in=keys)
        .filter(status__in=(VariantStatus.APPROVED, VariantStatus.DRAFT))
        .values_list("segment_key", flat=True)
    )
    recent_failures = set(
        MessageVariant.objects.filter(
            segment_key__in=keys,
            status=VariantStatus.INVALID,
            created_at__gte=timezone.now() - RETRY_INVALID_AFTER,
        ).values_list("segment_key", flat=True)
    )
    return [s for s in segments if s.key not in covered | recent_failures]


# --------------------------------------------------------------------------- staff decisions


@transaction.atomic
def approve(variant: MessageVariant, user) -> MessageVariant:
    """A Manager approves a valid variant; it replaces the segment's approved one at once."""
    if not can_approve(user):
        raise PermissionDenied("only Managers approve message wording")
    row = MessageVariant.objects.select_for_update().get(pk=variant.pk)
    if row.status == VariantStatus.APPROVED:
        return row
    if row.status == VariantStatus.INVALID or not row.body:
        raise ValueError("a variant that failed validation cannot be approved")
    _retire_approved(row.segment_key)
    row.status = VariantStatus.APPROVED
    row.reviewed_by, row.reviewed_at = user, timezone.now()
    row.save(update_fields=["status", "reviewed_by", "reviewed_at"])
    logger.info("variant %s approved by user %s", row.pk, user.pk)
    return row


@transaction.atomic
def reject(variant: MessageVariant, user) -> MessageVariant:
    """A Manager rejects (or withdraws) a variant; the segment goes back to its template."""
    if not can_approve(user):
        raise PermissionDenied("only Managers reject message wording")
    row = MessageVariant.objects.select_for_update().get(pk=variant.pk)
    if row.status == VariantStatus.INVALID:
        return row
    row.status = VariantStatus.REJECTED
    row.auto_approved = False
    row.reviewed_by, row.reviewed_at = user, timezone.now()
    row.save(update_fields=["status", "auto_approved", "reviewed_by", "reviewed_at"])
    logger.info("variant %s rejected by user %s", row.pk, user.pk)
    return row


def set_auto_approve(purpose: str, on: bool, user) -> PurposeApproval:
    """A Manager marks a purpose low-risk (its valid drafts approve themselves) or not."""
    if not can_approve(user):
        raise PermissionDenied("only Managers change approval rules")
    if purpose not in PURPOSES or not PURPOSES[purpose].llm_allowed:
        raise ValueError(f"{purpose!r} is not a purpose an LLM may word")
    row, _ = PurposeApproval.objects.update_or_create(
        purpose=purpose, defaults={"auto_approve": on, "set_by": user, "set_at": timezone.now()}
    )
    return row


def segment_of(variant: MessageVariant) -> Segment:
    """Rebuild a variant's segment (prep text from its appointment type, as compose does)."""
    kind = AppointmentType.objects.filter(name=variant.appointment_type).first()
    return segment_for(variant.purpose, variant.channel, variant.language, kind)

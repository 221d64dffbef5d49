"""Messaging records: the outbox (the truth about every message), consent, rules, replies.

Every outgoing message is an `OutboundMessage` row written in the same transaction as the
decision to send it, with a unique `key`, so a crash, a broker restart or a retry can neither
lose a message nor send it twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from scheduling.models import Appointment, AppointmentType, Location, Patient, Provider


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "E-mail"


class Purpose(models.TextChoices):
    REMINDER = "reminder", "Appointment reminder"
    CONFIRMATION_ACK = "confirmation_ack", "Confirmation received"
    CANCELLATION_ACK = "cancellation_ack", "Cancellation received"
    RESCHEDULE_LINK = "reschedule_link", "Reschedule link"
    WAITLIST_OFFER = "waitlist_offer", "Waitlist offer"
    SURVEY_INVITE = "survey_invite", "Survey invitation"
    SURVEY_REMINDER = "survey_reminder", "Survey reminder"
    OPT_OUT_ACK = "opt_out_ack", "Opt-out confirmation"
    OPT_IN_ACK = "opt_in_ack", "Opt-in confirmation"
    HELP = "help", "Help reply"


# Replies the carrier rules require even to an opted-out number (opt-out confirmation) or that
# answer the patient's own message right away: exempt from quiet hours and frequency caps.
TRANSACTIONAL_PURPOSES = {
    Purpose.CONFIRMATION_ACK,
    Purpose.CANCELLATION_ACK,
    Purpose.RESCHEDULE_LINK,
    Purpose.OPT_OUT_ACK,
    Purpose.OPT_IN_ACK,
    Purpose.HELP,
}


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    UNDELIVERED = "undelivered", "Undelivered"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped (not sent)"


TERMINAL = {
    Status.SENT,
    Status.DELIVERED,
    Status.FAILED,
    Status.UNDELIVERED,
    Status.CANCELLED,
    Status.SKIPPED,
}
# A provider status never moves a message backwards: delivered stays delivered even if a late
# "sent" callback arrives.
STATUS_RANK = {
    Status.QUEUED: 0,
    Status.SENDING: 1,
    Status.SENT: 2,
    Status.UNDELIVERED: 3,
    Status.FAILED: 3,
    Status.DELIVERED: 4,
    Status.CANCELLED: 5,
    Status.SKIPPED: 5,
}


class OutboundMessage(models.Model):
    key = models.CharField(
        max_length=200,
        unique=True,
        help_text="What makes this message unique, e.g. appt:42:rule:3:sms.",
    )
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="messages")
    appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    language = models.CharField(max_length=2, default="en")
    recipient = models.CharField(max_length=254, help_text="Phone (E.164) or e-mail address.")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    html = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    reason = models.CharField(
        max_length=300, blank=True, help_text="Why it was deferred, skipped, cancelled or failed."
    )
    due_at = models.DateTimeField(default=timezone.now, db_index=True)
    urgent = models.BooleanField(default=False, help_text="Exempt from frequency caps.")
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    outcome_unknown = models.BooleanField(
        default=False,
        help_text="The last attempt may have reached the provider: ask it before sending again.",
    )
    provider_id = models.CharField(max_length=64, blank=True, db_index=True)
    provider_status = models.CharField(max_length=20, blank=True)
    error_code = models.CharField(max_length=20, blank=True)
    error_text = models.CharField(max_length=300, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    encoding = models.CharField(max_length=8, blank=True)
    source = models.CharField(
        max_length=80, blank=True, help_text="Template or approved variant that wrote the text."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-due_at"]
        verbose_name = "message"
        indexes = [
            models.Index(fields=["due_at"], name="outbox_due_queued", condition=Q(status="queued")),
            models.Index(
                fields=["lease_until"], name="outbox_stuck_sending", condition=Q(status="sending")
            ),
            models.Index(fields=["patient", "channel", "sent_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} #{self.pk} ({self.channel}, {self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class MessageEvent(models.Model):
    """The message's timeline: every attempt, callback and decision, for "why?" in the admin."""

    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=30)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.detail}"


class ChannelConsent(models.Model):
    """A patient's current permission per channel; missing means allowed (care messages)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    opted_out = models.BooleanField(default=False)
    source = models.CharField(
        max_length=40, help_text="sms_keyword, email_link, provider_21610, admin, …"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "channel"], name="one_consent_per_channel")
        ]

    def __str__(self) -> str:
        state = "opted out" if self.opted_out else "allowed"
        return f"{self.channel} {state} ({self.source})"


class ConsentEvent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    opted_out = models.BooleanField()
    source = models.CharField(max_length=40)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{'out' if self.opted_out else 'in'} {self.channel} via {self.source}"


class ReminderRule(models.Model):
    """One step of the reminder cadence: so many minutes before the visit."""

    name = models.CharField(max_length=80)
    minutes_before = models.PositiveIntegerField(help_text="e.g. 10080 = 7 days, 2880 = 48 h.")
    asks_to_confirm = models.BooleanField(
        default=True, help_text="Ask the patient to reply C; skipped once they confirmed."
    )
    appointment_type = models.ForeignKey(
        AppointmentType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="Empty: every type.",
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="Empty: every location.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-minutes_before"]

    def __str__(self) -> str:
        return self.name


class LocationMessaging(models.Model):
    """Per-location overrides of the patient protections."""

    location = models.OneToOneField(Location, on_delete=models.CASCADE, related_name="messaging")
    quiet_start = models.TimeField(help_text="No messages from this local time…")
    quiet_end = models.TimeField(help_text="…until this local time.")

    def __str__(self) -> str:
        return f"{self.location}: quiet {self.quiet_start:%H:%M}-{self.quiet_end:%H:%M}"


class InboundMessage(models.Model):
    """An SMS a patient sent us; anything not understood waits in the staff inbox."""

    class State(models.TextChoices):
        HANDLED = "handled", "Handled automatically"
        OPEN = "open", "Needs staff"
        RESOLVED = "resolved", "Resolved by staff"

    provider_id = models.CharField(max_length=64, unique=True)
    from_number = models.CharField(max_length=20)
    body = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)
    patient = models.ForeignKey(
        Patient, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_messages"
    )
    appointment = models.ForeignKey(
        Appointment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbound_messages",
    )
    intent = models.CharField(max_length=20, blank=True)
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.OPEN, db_index=True
    )
    outcome = models.CharField(max_length=200, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "reply"
        verbose_name_plural = "inbox (patient replies)"

    def __str__(self) -> str:
        return f"reply #{self.pk} ({self.intent or 'unparsed'})"


class WorkerHeartbeat(models.Model):
    """One row per beat: proof that beat -> broker -> worker -> database works end to end."""

    beat_at = models.DateTimeField(default=timezone.now, db_index=True)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return f"heartbeat {self.beat_at:%Y-%m-%d %H:%M:%S} from {self.worker or '?'}"


class SlotRelease(models.Model):
    """A slot freed by a cancellation, offered to the waitlist until someone takes it.

    Claims lock this row, so the first claim wins and later ones see it filled.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        FILLED = "filled", "Filled"
        EXPIRED = "expired", "Expired"

    # A visit moved and later cancelled frees two different times: one release for each.
    cancelled_appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="releases"
    )
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField(help_text="End of the freed time, buffer included.")
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.OPEN, db_index=True
    )
    filled_by = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["cancelled_appointment", "start"], name="one_release_per_freed_time"
            )
        ]

    def __str__(self) -> str:
        return f"freed slot #{self.pk} ({self.state})"


class WaitlistOffer(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        OPEN = "open", "Offered"
        CLAIMED = "claimed", "Claimed (booked)"
        TAKEN = "taken", "Taken by someone else"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    release = models.ForeignKey(SlotRelease, on_delete=models.CASCADE, related_name="offers")
    request = models.ForeignKey(
        "scheduling.AppointmentRequest", on_delete=models.CASCADE, related_name="offers"
    )
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="offers")
    rank = models.PositiveSmallIntegerField(help_text="1 = best candidate.")
    batch = models.PositiveSmallIntegerField(default=1)
    start = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING, db_index=True
    )
    message = models.ForeignKey(
        OutboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    booked_appointment = models.ForeignKey(
        Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["release", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "request"], name="one_offer_per_request_per_slot"
            )
        ]

    def __str__(self) -> str:
        return f"offer #{self.pk} ({self.state})"


class VariantStatus(models.TextChoices):
    DRAFT = "draft", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected by staff"
    INVALID = "invalid", "Failed validation"
    RETIRED = "retired", "Retired"


class MessageVariant(models.Model):
    """LLM-written wording for one segment, with placeholders; used only once approved."""

    segment_key = models.CharField(max_length=32, db_index=True)
    purpose = models.CharField(max_length=20)
    language = models.CharField(max_length=2)
    appointment_type = models.CharField(max_length=100)
    channel = models.CharField(max_length=10)
    tone = models.CharField(max_length=20, default="warm")
    visit = models.CharField(max_length=10, default="any")
    body = models.TextField(blank=True)
    subject = models.CharField(max_length=200, blank=True)
    rejected_body = models.TextField(blank=True)
    rejections = models.JSONField(default=list, blank=True)
    prompt_version = models.CharField(max_length=40)
    model_name = models.CharField(max_length=80, blank=True)
    variant_hash = models.CharField(max_length=40, blank=True)
    status = models.CharField(
        max_length=10, choices=VariantStatus.choices, default=VariantStatus.DRAFT, db_index=True
    )
    auto_approved = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment_key"],
                condition=Q(status="approved"),
                name="one_approved_variant_per_segment",
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose}/{self.language}/{self.channel} variant #{self.pk} ({self.status})"


class LLMCall(models.Model):
    """One call to the LLM: what for, how long, how many tokens, what came of it."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=20, help_text="message_variant or survey_questions")
    segment_key = models.CharField(max_length=32, blank=True)
    model_name = models.CharField(max_length=80, blank=True)
    prompt_version = models.CharField(max_length=40, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=40, help_text="accepted, or the rejection code.")
    variant = models.ForeignKey(
        MessageVariant, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )

    class Meta:
        ordering = ["-at"]
        verbose_name = "LLM call"

    def __str__(self) -> str:
        return f"LLM {self.kind} {self.outcome} ({self.latency_ms} ms)"


class PurposeApproval(models.Model):
    """A Manager marked this purpose low-risk: its valid drafts are approved automatically."""

    purpose = models.CharField(max_length=20, unique=True)
    auto_approve = models.BooleanField(default=False)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    set_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.purpose}: {'auto' if self.auto_approve else 'manual'} approval"

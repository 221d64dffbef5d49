"""Surveys, invitations, responses, analysed comments and follow-up tickets.

Responses carry copies of the visit's location, provider, type and date so the managers'
dashboard aggregates over indexed columns of one table instead of joining through
appointments for every figure.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from comms.models import OutboundMessage
from scheduling.models import Appointment, AppointmentType, Location, Patient, Provider


class QuestionKind(models.TextChoices):
    NPS = "nps", "Likelihood to recommend (0-10)"
    LIKERT = "likert", "Never / Sometimes / Usually / Always"
    RATING = "rating", "Rating (0-10)"
    FREE_TEXT = "free_text", "Free text"


class Survey(models.Model):
    """A question set for one appointment type (or every type) in one language."""

    name = models.CharField(max_length=120)
    appointment_type = models.ForeignKey(
        AppointmentType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text="Empty: every type.",
    )
    language = models.CharField(max_length=2, default="en")
    active = models.BooleanField(default=False, help_text="Only approved surveys are used.")
    source = models.CharField(
        max_length=80, default="standard", help_text="standard, or the LLM draft it came from."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "language"]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"


class Question(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    order = models.PositiveSmallIntegerField(default=0)
    code = models.SlugField(
        max_length=40,
        help_text="Stable id across languages, e.g. nps, listened, went_well, do_better.",
    )
    kind = models.CharField(max_length=10, choices=QuestionKind.choices)
    text = models.CharField(max_length=300)
    required = models.BooleanField(default=False)

    class Meta:
        ordering = ["survey", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "code"], name="question_code_unique_in_survey"
            )
        ]

    def __str__(self) -> str:
        return self.text


class InvitationStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    SENT = "sent", "Sent"
    OPENED = "opened", "Opened"
    PARTIAL = "partial", "Partly answered"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Expired"
    SKIPPED = "skipped", "Not sent"


class Invitation(models.Model):
    """One survey invitation per completed visit; the link's token names this row."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="survey_invitation"
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="survey_invitations"
    )
    survey = models.ForeignKey(
        Survey, on_delete=models.PROTECT, null=True, blank=True, related_name="invitations"
    )
    channel = models.CharField(max_length=10, blank=True)
    status = models.CharField(
        max_length=10,
        choices=InvitationStatus.choices,
        default=InvitationStatus.SCHEDULED,
        db_index=True,
    )
    skip_reason = models.CharField(max_length=200, blank=True)
    message = models.ForeignKey(
        OutboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reminder_message = models.ForeignKey(
        OutboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patient", "created_at"])]

    def __str__(self) -> str:
        return f"invitation #{self.pk} ({self.status})"


class Response(models.Model):
    """A patient's answers to one invitation (kept even when partial)."""

    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    channel = models.CharField(max_length=10, default="web", help_text="web or sms")
    language = models.CharField(max_length=2, default="en")
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    nps = models.SmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    provider_rating = models.SmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    # Copies of the visit, for the dashboard (see the module docstring).
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="+"
    )
    visit_date = models.DateField(db_index=True)
    invite_channel = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["visit_date", "location"]),
            models.Index(fields=["visit_date", "provider"]),
            models.Index(fields=["visit_date", "appointment_type"]),
        ]

    def __str__(self) -> str:
        return f"response #{self.pk}"


class Answer(models.Model):
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    code = models.SlugField(max_length=40, help_text="The question's code, copied.")
    value_int = models.SmallIntegerField(null=True, blank=True)
    value_text = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="one_answer_per_question")
        ]
        indexes = [
            models.Index(fields=["code", "value_int"]),
            # The dashboard's top box: answers of the period's responses, index-only.
            models.Index(fields=["response", "code", "value_int"], name="answer_topbox_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.code}={self.value_int if self.value_int is not None else '…'}"


class Sentiment(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    MIXED = "mixed", "Mixed"
    NEGATIVE = "negative", "Negative"


class Comment(models.Model):
    """A free-text answer with its analysis; staff corrections are kept for retraining."""

    answer = models.OneToOneField(Answer, on_delete=models.CASCADE, related_name="comment")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="comments")
    question_code = models.SlugField(max_length=40)
    text = models.TextField()
    textblob_polarity = models.FloatField(help_text="TextBlob's polarity: the baseline.")
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, db_index=True)
    score = models.FloatField(help_text="P(positive) - P(negative), -1..1.")
    safety = models.BooleanField(default=False, db_index=True)
    model_version = models.CharField(max_length=40, blank=True)
    analysed_at = models.DateTimeField(default=timezone.now)
    corrected_sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    corrected_themes = models.JSONField(null=True, blank=True)
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    corrected_at = models.DateTimeField(null=True, blank=True)
    # Copies for the dashboard.
    visit_date = models.DateField(db_index=True)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-visit_date", "-pk"]

    def __str__(self) -> str:
        return f"comment #{self.pk} ({self.sentiment})"

    @property
    def effective_sentiment(self) -> str:
        return self.corrected_sentiment or self.sentiment


class CommentTheme(models.Model):
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="themes")
    theme = models.CharField(max_length=20, db_index=True)
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices)
    visit_date = models.DateField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comment", "theme"], name="one_row_per_comment_theme")
        ]

    def __str__(self) -> str:
        return f"{self.theme} ({self.sentiment})"


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"


class Ticket(models.Model):
    """Service recovery: someone calls the patient back about a poor or worrying answer."""

    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="ticket")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="tickets")
    reasons = models.JSONField(
        default=list, help_text="Any of detractor, negative, safety, contradiction."
    )
    priority = models.CharField(
        max_length=10, default="normal", choices=[("normal", "Normal"), ("high", "High (safety)")]
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="survey_tickets",
    )
    due_date = models.DateField()
    status = models.CharField(
        max_length=12, choices=TicketStatus.choices, default=TicketStatus.OPEN, db_index=True
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "due_date"]

    def __str__(self) -> str:
        return f"ticket #{self.pk} ({', '.join(self.reasons)})"

    @property
    def overdue(self) -> bool:
        return self.status != TicketStatus.RESOLVED and self.due_date < timezone.localdate()


class LocationManager(models.Model):
    """Who manages a location: gets its alerts and weekly report."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="managed_locations"
    )
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="managers")
    weekly_report = models.BooleanField(default=True)
    alerts = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "location"], name="one_assignment_per_manager_location"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} manages {self.location}"


# -- the dashboard's roll-ups (kept by surveys.rollup; read by surveys.insight_counts) ----------

# The standard survey's Likert items (migration 0002_standard_survey), in display order: the
# items ResponseRollup has columns for (a page showing any other item reads the answers).
STANDARD_LIKERT_CODES = (
    "explained",
    "listened",
    "respect",
    "enough_time",
    "staff_helpful",
    "appointment_soon",
)


class RollupSpan(models.IntegerChoices):
    DAY = 1, "Day"
    WEEK = 7, "ISO week (Monday to Sunday)"


def _key_fk(model: type[models.Model]) -> models.ForeignKey:
    # A copy of a key, not a relation to protect: no constraint, no index of its own.
    return models.ForeignKey(
        model, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )


class Rollup(models.Model):
    """Counts of raw rows per (day or week, location, provider, visit type): derived data.

    A row covers `span` days from `day` (a week row starts on a Monday); every week has both
    its day rows and its week row, so any period reads whole weeks plus a few edge days.
    """

    day = models.DateField()
    span = models.PositiveSmallIntegerField(choices=RollupSpan.choices)
    location = _key_fk(Location)
    provider = _key_fk(Provider)
    appointment_type = _key_fk(AppointmentType)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.day} +{self.span}d p{self.provider_id}"


class ResponseRollup(Rollup):
    """Completed responses by visit date (local) and invitation channel, with their NPS parts
    and the standard Likert items' answers ("n") and "Always" answers ("top")."""

    channel = models.CharField(max_length=10, blank=True)
    responses = models.PositiveIntegerField(default=0)
    nps_n = models.PositiveIntegerField(default=0)
    promoters = models.PositiveIntegerField(default=0)
    passives = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)
    explained_n = models.PositiveIntegerField(default=0)
    explained_top = models.PositiveIntegerField(default=0)
    listened_n = models.PositiveIntegerField(default=0)
    listened_top = models.PositiveIntegerField(default=0)
    respect_n = models.PositiveIntegerField(default=0)
    respect_top = models.PositiveIntegerField(default=0)
    enough_time_n = models.PositiveIntegerField(default=0)
    enough_time_top = models.PositiveIntegerField(default=0)
    staff_helpful_n = models.PositiveIntegerField(default=0)
    staff_helpful_top = models.PositiveIntegerField(default=0)
    appointment_soon_n = models.PositiveIntegerField(default=0)
    appointment_soon_top = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["span", "day", "location", "provider", "appointment_type", "channel"],
                name="one_response_rollup_per_key",
            )
        ]
        # The write path replaces one provider's rows of one week.
        indexes = [models.Index(fields=["provider", "day"], name="resp_rollup_provider_day")]


class InvitationRollup(Rollup):
    """Invitations by the day they were created (default time zone) and channel."""

    channel = models.CharField(max_length=10, blank=True)
    sent = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["span", "day", "location", "provider", "appointment_type", "channel"],
                name="one_invitation_rollup_per_key",
            )
        ]
        # The write path replaces one provider's rows of one week.
        indexes = [models.Index(fields=["provider", "day"], name="inv_rollup_provider_day")]


class AppointmentRollup(Rollup):
    """Appointments by start day (default time zone): booked or later, confirmed or later,
    no-shows. Only days before today are read (today's "already started" is live)."""

    booked = models.PositiveIntegerField(default=0)
    confirmed = models.PositiveIntegerField(default=0)
    no_show = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["span", "day", "location", "provider", "appointment_type"],
                name="one_appointment_rollup_per_key",
            )
        ]
        # The write path replaces one provider's rows of one week.
        indexes = [models.Index(fields=["provider", "day"], name="appt_rollup_provider_day")]

"""The managers' survey admin: question sets, invitations and answers (read-only), analysed
comments with corrections, and the follow-up ticket queue.

Every changelist follows its relations with `list_select_related` (or one prefetch), so a page
costs the same number of queries whatever its size.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from surveys.analysis import THEMES
from surveys.models import (
    Answer,
    Comment,
    Invitation,
    LocationManager,
    Question,
    Response,
    Survey,
    Ticket,
    TicketStatus,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the system writes; staff look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ["order", "code", "kind", "text", "required"]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "appointment_type", "active", "question_count", "source"]
    list_filter = ["active", "language", "appointment_type"]
    search_fields = ["name"]
    list_select_related = ["appointment_type"]
    readonly_fields = ["approved_by", "approved_at", "created_at"]
    inlines = [QuestionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_questions=Count("questions"))

    @admin.display(description="questions", ordering="n_questions")
    def question_count(self, obj: Survey) -> int:
        return obj.n_questions

    def save_model(self, request, obj: Survey, form, change) -> None:
        # Activating a survey is approving it: record who did.
        if obj.active and "active" in form.changed_data:
            obj.approved_by, obj.approved_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["pk", "patient", "visit", "status", "channel", "created_at", "expires_at"]
    list_filter = ["status", "channel", "appointment__location", "created_at"]
    search_fields = ["patient__last_name", "patient__first_name", "=appointment__pk"]
    list_select_related = ["patient", "appointment__location"]
    date_hierarchy = "created_at"

    @admin.display(description="visit", ordering="appointment__start")
    def visit(self, obj: Invitation) -> str:
        return f"#{obj.appointment_id} at {obj.appointment.location.name}"


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0
    fields = ["code", "value_int", "value_text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "visit_date",
        "location",
        "provider",
        "appointment_type",
        "nps",
        "provider_rating",
        "channel",
        "language",
        "completed_at",
    ]
    list_filter = ["location", "channel", "language", "appointment_type", "visit_date"]
    search_fields = ["provider__last_name", "location__name", "=invitation__pk"]
    list_select_related = ["location", "provider", "appointment_type"]
    date_hierarchy = "visit_date"
    inlines = [AnswerInline]


class ThemeFilter(admin.SimpleListFilter):
    title = "theme"
    parameter_name = "theme"

    def lookups(self, request, model_admin):
        return [(name, name.replace("_", " ")) for name in THEMES]

    def queryset(self, request, queryset):
        return queryset.filter(themes__theme=self.value()) if self.value() else queryset


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "visit_date",
        "location",
        "provider",
        "question_code",
        "excerpt",
        "sentiment",
        "corrected_sentiment",
        "theme_list",
        "safety",
    ]
    list_filter = ["sentiment", ThemeFilter, "safety", "location", "question_code", "visit_date"]
    search_fields = ["text", "provider__last_name", "location__name"]
    list_select_related = ["location", "provider"]
    date_hierarchy = "visit_date"
    fields = [
        "text",
        "question_code",
        "sentiment",
        "score",
        "textblob_polarity",
        "safety",
        "theme_list",
        "model_version",
        "analysed_at",
        "corrected_sentiment",
        "corrected_themes",
        "corrected_by",
        "corrected_at",
        "response",
        "visit_date",
        "location",
        "provider",
    ]
    readonly_fields = [f for f in fields if f not in ("corrected_sentiment", "corrected_themes")]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # comments come from answers

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("themes")

    @admin.display(description="comment")
    def excerpt(self, obj: Comment) -> str:
        return obj.text if len(obj.text) <= 80 else obj.text[:79] + "…"

    @admin.display(description="themes")
    def theme_list(self, obj: Comment) -> str:
        return ", ".join(f"{t.theme} ({t.sentiment})" for t in obj.themes.all())

    def save_model(self, request, obj: Comment, form, change) -> None:
        if {"corrected_sentiment", "corrected_themes"} & set(form.changed_data):
            obj.corrected_by, obj.corrected_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "location",
        "priority",
        "reason_list",
        "status",
        "due_date",
        "is_overdue",
        "owner",
        "created_at",
    ]
    list_filter = ["status", "location", "priority", "owner"]
    search_fields = [
        "=pk",
        "location__name",
        "response__invitation__patient__last_name",
        "response__provider__last_name",
    ]
    list_select_related = ["location", "owner"]
    ordering = ["status", "priority", "due_date"]
    actions = ["assign_to_me", "start", "resolve"]
    fields = [
        "location",
        "reasons",
        "priority",
        "status",
        "owner",
        "due_date",
        "patient_contact",
        "scores",
        "comments",
        "notes",
        "created_at",
        "resolved_at",
    ]
    readonly_fields = [
        "location",
        "reasons",
        "patient_contact",
        "scores",
        "comments",
        "created_at",
        "resolved_at",
    ]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # tickets come from responses

    @admin.display(description="reasons")
    def reason_list(self, obj: Ticket) -> str:
        return ", ".join(obj.reasons)

    @admin.display(description="overdue", boolean=True, ordering="due_date")
    def is_overdue(self, obj: Ticket) -> bool:
        return obj.overdue

    @admin.display(description="patient (call back)")
    def patient_contact(self, obj: Ticket) -> str:
        patient = obj.response.invitation.patient
        return format_html(
            "{} {} · {} · {} · prefers {}",
            patient.first_name,
            patient.last_name,
            patient.phone or "no phone",
            patient.email or "no e-mail",
            patient.get_preferred_language_display(),
        )

    @admin.display(description="scores")
    def scores(self, obj: Ticket) -> str:
        response = obj.response
        return f"NPS {response.nps}, provider rating {response.provider_rating}"

    @admin.display(description="comments")
    def comments(self, obj: Ticket) -> str:
        rows = obj.response.comments.order_by("pk")
        return format_html_join(
            "",
            "<p><strong>{}</strong> ({}{}): {}</p>",
            (
                (c.question_code, c.effective_sentiment, ", safety" if c.safety else "", c.text)
                for c in rows
            ),
        )

    @admin.action(description="Assign to me")
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.exclude(status=TicketStatus.RESOLVED).update(owner=request.user)
        self.message_user(request, f"{count} ticket(s) assigned to you.", messages.SUCCESS)

    @admin.action(description="Mark in progress")
    def start(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.filter(status=TicketStatus.OPEN).update(status=TicketStatus.IN_PROGRESS)
        self.message_user(request, f"{count} ticket(s) in progress.", messages.SUCCESS)

    @admin.action(description="Resolve")
    def resolve(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.exclude(status=TicketStatus.RESOLVED).update(
            status=TicketStatus.RESOLVED, resolved_at=timezone.now()
        )
        self.message_user(request, f"{count} ticket(s) resolved.", messages.SUCCESS)

    def save_model(self, request, obj: Ticket, form, change) -> None:
        if "status" in form.changed_data:
            obj.resolved_at = timezone.now() if obj.status == TicketStatus.RESOLVED else None
        super().save_model(request, obj, form, change)


@admin.register(LocationManager)
class LocationManagerAdmin(admin.ModelAdmin):
    list_display = ["user", "location", "alerts", "weekly_report"]
    list_filter = ["location", "alerts", "weekly_report"]
    search_fields = ["user__username", "user__email", "location__name"]
    list_select_related = ["user", "location"]


# The LLM survey proposals' admin lives in its own module; importing it registers it with the
# rest of the surveys admin at autodiscovery (before the admin's URLs are built).
from surveys import proposal_admin  # noqa: E402, F401

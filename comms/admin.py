"""Messages in the admin: every message with its timeline and "why", the inbox, a preview."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from comms import outbox
from comms.delivery import channel_states
from comms.models import (
    ChannelConsent,
    ConsentEvent,
    InboundMessage,
    LocationMessaging,
    MessageEvent,
    OutboundMessage,
    ReminderRule,
    Status,
    WorkerHeartbeat,
)
from scheduling.models import Appointment, Patient


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    fields = ["at", "kind", "detail"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "Timeline"


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = [
        "due_at",
        "patient",
        "purpose",
        "channel",
        "status",
        "reason",
        "attempts",
        "segments",
        "source",
    ]
    list_filter = ["status", "channel", "purpose", "language", "due_at"]
    search_fields = [
        "patient__first_name",
        "patient__last_name",
        "patient__phone",
        "key",
        "provider_id",
    ]
    list_select_related = ["patient"]
    date_hierarchy = "due_at"
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
    inlines = [MessageEventInline]
    actions = ["resend", "cancel_queued"]
    change_list_template = "admin/comms/outboundmessage/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        extra = [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="comms_outboundmessage_preview",
            )
        ]
        return extra + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        counts = dict(
            OutboundMessage.objects.values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        extra_context = {
            **(extra_context or {}),
            "channel_states": channel_states(),
            "status_counts": [(label, counts.get(value, 0)) for value, label in Status.choices],
        }
        return super().changelist_view(request, extra_context)

    def preview_view(self, request):
        """Dry run: what the next 24 hours would send, defer or skip, and why. Sends nothing."""
        now = timezone.now()
        rows = []
        queued = (
            OutboundMessage.objects.filter(
                status=Status.QUEUED, due_at__lt=now + timedelta(hours=24)
            )
            .select_related("patient__home_location", "appointment")
            .order_by("due_at")
        )
        for message in queued[:500]:
            decision = outbox.gate(message, max(message.due_at, now))
            rows.append((message, decision))
        context = {
            **self.admin_site.each_context(request),
            "title": "Due in the next 24 hours",
            "rows": rows,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/comms/outboundmessage/preview.html", context)

    @admin.action(
        description="Send again (failed, skipped or cancelled messages)", permissions=["change"]
    )
    def resend(self, request, queryset):
        again = queryset.filter(
            status__in=[Status.FAILED, Status.UNDELIVERED, Status.SKIPPED, Status.CANCELLED]
        )
        ids = list(again.values_list("pk", flat=True))
        again.update(
            status=Status.QUEUED,
            due_at=timezone.now(),
            attempts=0,
            reason=f"resend requested by {request.user.get_username()}",
            outcome_unknown=False,
        )
        for message_id in ids:
            outbox.event(message_id, "resend", request.user.get_username())
            outbox.publish_after_commit(message_id)
        self.message_user(
            request,
            f"{len(ids)} message(s) queued again; sent or delivered ones were left alone.",
            messages.SUCCESS,
        )

    @admin.action(description="Cancel (queued messages only)", permissions=["change"])
    def cancel_queued(self, request, queryset):
        count = outbox.cancel_pending(queryset, f"cancelled by {request.user.get_username()}")
        self.message_user(request, f"{count} message(s) cancelled.", messages.SUCCESS)


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "patient",
        "appointment",
        "body",
        "intent",
        "state",
        "outcome",
        "assigned_to",
    ]
    list_filter = ["state", "intent"]
    search_fields = ["patient__first_name", "patient__last_name", "from_number", "body"]
    list_select_related = [
        "patient",
        "appointment__provider",
        "appointment__location",
        "appointment__appointment_type",
        "assigned_to",
    ]
    readonly_fields = [
        "provider_id",
        "from_number",
        "body",
        "received_at",
        "patient",
        "appointment",
        "intent",
        "outcome",
        "resolved_at",
    ]
    actions = ["assign_to_me", "resolve"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        count = queryset.update(assigned_to=request.user)
        self.message_user(request, f"{count} repl(ies) assigned to you.", messages.SUCCESS)

    @admin.action(description="Mark resolved", permissions=["change"])
    def resolve(self, request, queryset):
        count = queryset.exclude(state=InboundMessage.State.RESOLVED).update(
            state=InboundMessage.State.RESOLVED, resolved_at=timezone.now()
        )
        self.message_user(request, f"{count} repl(ies) resolved.", messages.SUCCESS)


@admin.register(ChannelConsent)
class ChannelConsentAdmin(admin.ModelAdmin):
    list_display = ["patient", "channel", "opted_out", "source", "changed_at"]
    list_filter = ["channel", "opted_out", "source"]
    search_fields = ["patient__first_name", "patient__last_name", "patient__phone"]
    list_select_related = ["patient"]
    autocomplete_fields = ["patient"]


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    list_display = ["at", "patient", "channel", "opted_out", "source"]
    list_filter = ["channel", "opted_out", "source"]
    search_fields = ["patient__last_name", "patient__phone"]
    list_select_related = ["patient"]
    readonly_fields = ["patient", "channel", "opted_out", "source", "at"]


@admin.register(ReminderRule)
class ReminderRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "minutes_before",
        "asks_to_confirm",
        "appointment_type",
        "location",
        "active",
    ]
    list_filter = ["active", "appointment_type", "location"]
    list_select_related = ["appointment_type", "location"]


@admin.register(LocationMessaging)
class LocationMessagingAdmin(admin.ModelAdmin):
    list_display = ["location", "quiet_start", "quiet_end"]
    list_select_related = ["location"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["beat_at", "worker", "task_id"]
    readonly_fields = ["beat_at", "worker", "task_id"]

    def has_add_permission(self, request) -> bool:
        return False


class MessageInline(admin.TabularInline):
    """The message timeline on an appointment or patient page."""

    model = OutboundMessage
    fields = ["due_at", "purpose", "channel", "status", "reason", "sent_at", "delivered_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Messages"
    ordering = ["-due_at"]


class PatientMessageInline(MessageInline):
    fk_name = "patient"

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-due_at")


# comms may reach down into scheduling's admin (never the reverse): add the message timeline.
for model, inline in ((Appointment, MessageInline), (Patient, PatientMessageInline)):
    model_admin = admin.site._registry.get(model)
    if model_admin is not None and inline not in model_admin.inlines:
        model_admin.inlines = [*model_admin.inlines, inline]

import comms.llm_admin  # noqa: E402, F401 - registers the LLM variant approval admins
from comms import offer_admin  # noqa: E402, F401 - registers the waitlist offer admins

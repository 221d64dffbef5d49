"""LLM wording in the admin: Managers compare a draft with its template and approve or reject it.

Approval rights follow the Manager group (`comms.approvals.can_approve`), not model permissions,
so front desk staff never see the approve buttons and get 403 from the decision URL.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone

from comms import approvals
from comms.drafts import PURPOSES, WORST_CASE_FACTS, Draft
from comms.facts import appointment_facts
from comms.models import LLMCall, MessageVariant, PurposeApproval, VariantStatus
from comms.writer import Writer, WriteRequest
from scheduling.models import Appointment, AppointmentStatus


class _ManagersOnly:
    """Views for Managers (and superusers) whatever the model permissions say."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return approvals.can_approve(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return approvals.can_approve(request.user) or super().has_view_permission(request, obj)


class LLMCallInline(admin.TabularInline):
    model = LLMCall
    fields = ["at", "model_name", "prompt_tokens", "completion_tokens", "latency_ms", "outcome"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "LLM calls (tokens, latency in ms)"


@admin.register(MessageVariant)
class MessageVariantAdmin(_ManagersOnly, admin.ModelAdmin):
    list_display = [
        "id",
        "purpose",
        "language",
        "appointment_type",
        "channel",
        "visit",
        "status",
        "auto_approved",
        "created_at",
    ]
    list_filter = ["status", "purpose", "language", "channel", "auto_approved"]
    search_fields = ["appointment_type", "segment_key", "variant_hash", "body"]
    readonly_fields = [f.name for f in MessageVariant._meta.fields]
    inlines = [LLMCallInline]
    actions = ["approve_selected", "reject_selected"]
    change_form_template = "admin/comms/messagevariant/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # variants come from the LLM only

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the wording is approved as written, never edited here

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the audit trail of what patients could have read

    def get_actions(self, request: HttpRequest):
        found = super().get_actions(request)
        if not approvals.can_approve(request.user):
            found.pop("approve_selected", None)
            found.pop("reject_selected", None)
        return found

    def get_urls(self):
        decide = path(
            "<int:pk>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="comms_messagevariant_decide",
        )
        return [decide, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        variant = get_object_or_404(MessageVariant, pk=object_id)
        extra_context = {
            **(extra_context or {}),
            **comparison(variant),
            "can_decide": approvals.can_approve(request.user),
            "decide_url": reverse("admin:comms_messagevariant_decide", args=[variant.pk]),
            "approvable": variant.status != VariantStatus.APPROVED and bool(variant.body),
            "rejectable": variant.status in (VariantStatus.DRAFT, VariantStatus.APPROVED),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def decide_view(self, request: HttpRequest, pk: int):
        """POST decision=approve|reject from the change page; Managers only (else 403)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not approvals.can_approve(request.user):
            raise PermissionDenied("only Managers approve message wording")
        variant = get_object_or_404(MessageVariant, pk=pk)
        decision = request.POST.get("decision")
        try:
            if decision == "approve":
                approvals.approve(variant, request.user)
                self.message_user(request, "Approved: patients get this wording from now on.")
            elif decision == "reject":
                approvals.reject(variant, request.user)
                self.message_user(request, "Rejected: this segment uses its template.")
            else:
                self.message_user(request, "Unknown decision.", messages.ERROR)
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:comms_messagevariant_change", args=[pk]))

    @admin.action(description="Approve selected variants (Managers)")
    def approve_selected(self, request, queryset):
        done, refused = 0, 0
        for variant in queryset:
            try:
                approvals.approve(variant, request.user)
                done += 1
            except ValueError:
                refused += 1
        level = messages.SUCCESS if not refused else messages.WARNING
        note = f"; {refused} failed validation and cannot be approved" if refused else ""
        self.message_user(request, f"{done} variant(s) approved{note}.", level)

    @admin.action(description="Reject selected variants (Managers)")
    def reject_selected(self, request, queryset):
        for variant in queryset:
            approvals.reject(variant, request.user)
        self.message_user(request, f"{queryset.count()} variant(s) rejected.", messages.SUCCESS)


def sample_appointment(variant: MessageVariant) -> Appointment | None:
    """The next booked visit of the variant's type, to preview real facts (None if none)."""
    return (
        Appointment.objects.filter(
            appointment_type__name=variant.appointment_type,
            start__gte=timezone.now(),
            status__in=(AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED),
        )
        .select_related("provider", "location", "appointment_type")
        .order_by("start")
        .first()
    )


def comparison(variant: MessageVariant) -> dict[str, object]:
    """The variant and the template it would replace, both filled with one visit's facts."""
    segment = approvals.segment_of(variant)
    language = variant.language
    # A sample link: previewing must not mint a real patient's reschedule token.
    link = WORST_CASE_FACTS[language]["link"]
    appointment = sample_appointment(variant)
    if appointment is not None:
        facts = appointment_facts(appointment, language, link=link)
        facts_from = f"the visit on {facts['date']} at {facts['time']} ({appointment.location})"
    else:
        facts = {**WORST_CASE_FACTS[language], "appointment_type": variant.appointment_type}
        facts_from = "worst-case sample facts (no upcoming visit of this type)"
    writer = Writer()  # plain templates; the variant is given explicitly
    template = writer.write(WriteRequest(segment=segment, facts=facts))
    filled = None
    if variant.body:
        draft = Draft(segment, variant.prompt_version, body=variant.body, subject=variant.subject)
        filled = writer.write(WriteRequest(segment=segment, facts=facts, variant=draft))
    calls = list(variant.calls.all())
    return {
        "template_message": template,
        "variant_message": filled,
        "facts_from": facts_from,
        "segment_changed": segment.key != variant.segment_key,
        "rejection_list": variant.rejections,
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(c.completion_tokens for c in calls),
    }


@admin.register(LLMCall)
class LLMCallAdmin(_ManagersOnly, admin.ModelAdmin):
    list_display = [
        "at",
        "kind",
        "outcome",
        "model_name",
        "prompt_version",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "variant",
    ]
    list_filter = ["kind", "outcome", "model_name"]
    search_fields = ["segment_key", "outcome"]
    list_select_related = ["variant"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in LLMCall._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PurposeApprovalForm(forms.ModelForm):
    purpose = forms.ChoiceField(
        choices=[(name, name) for name, p in PURPOSES.items() if p.llm_allowed],
        help_text="Valid LLM drafts for this purpose are approved without review.",
    )

    class Meta:
        model = PurposeApproval
        fields = ["purpose", "auto_approve"]


@admin.register(PurposeApproval)
class PurposeApprovalAdmin(_ManagersOnly, admin.ModelAdmin):
    form = PurposeApprovalForm
    list_display = ["purpose", "auto_approve", "set_by", "set_at"]
    list_select_related = ["set_by"]
    readonly_fields = ["set_by", "set_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return approvals.can_approve(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return approvals.can_approve(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return approvals.can_approve(request.user)

    def save_model(self, request, obj, form, change) -> None:
        obj.set_by, obj.set_at = request.user, timezone.now()
        super().save_model(request, obj, form, change)

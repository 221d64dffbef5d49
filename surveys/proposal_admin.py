"""LLM survey proposals in the admin: propose for a type and language, review flags, approve.

Managers only (`comms.approvals.can_approve`). Importing this module registers the admin.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from comms import approvals
from comms.drafts import LANGUAGES
from scheduling.models import AppointmentType
from surveys.models import Question
from surveys.proposals import SurveyProposal, approve_proposal, proposal_issues, propose


class ProposeForm(forms.Form):
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.filter(active=True).order_by("name")
    )
    language = forms.ChoiceField(choices=[(code, code) for code in LANGUAGES])


class ProposedQuestionInline(admin.TabularInline):
    model = Question
    fields = ["order", "code", "kind", "text", "required"]
    extra = 0


@admin.register(SurveyProposal)
class SurveyProposalAdmin(admin.ModelAdmin):
    list_display = ["name", "appointment_type", "language", "active", "source", "created_at"]
    list_filter = ["active", "language"]
    search_fields = ["name", "appointment_type__name"]
    list_select_related = ["appointment_type"]
    fields = ["name", "appointment_type", "language", "active", "source", "approved_by"]
    readonly_fields = ["appointment_type", "language", "active", "source", "approved_by"]
    inlines = [ProposedQuestionInline]
    change_list_template = "admin/surveys/surveyproposal/change_list.html"
    change_form_template = "admin/surveys/surveyproposal/change_form.html"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return approvals.can_approve(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return approvals.can_approve(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # proposals come from the "Propose questions" page

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # An active survey has answers keyed to its questions: edit it in the Survey admin.
        return approvals.can_approve(request.user) and not (obj and obj.active)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("propose/", wrap(self.propose_view), name="surveys_surveyproposal_propose"),
            path(
                "<int:pk>/approve/",
                wrap(self.approve_view),
                name="surveys_surveyproposal_approve",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        proposal = get_object_or_404(SurveyProposal, pk=object_id)
        extra_context = {
            **(extra_context or {}),
            "issues": proposal_issues(proposal),
            "can_decide": approvals.can_approve(request.user) and not proposal.active,
            "approve_url": reverse("admin:surveys_surveyproposal_approve", args=[proposal.pk]),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def propose_view(self, request: HttpRequest):
        """Ask the LLM for questions for a type and language; store them inactive."""
        if not approvals.can_approve(request.user):
            raise PermissionDenied("only Managers propose surveys")
        form = ProposeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if not approvals.llm_configured():
                self.message_user(request, "OPENAI_API_KEY is not set.", messages.ERROR)
            else:
                survey, draft = propose(
                    form.cleaned_data["appointment_type"], form.cleaned_data["language"]
                )
                if survey is not None:
                    note = f" with {len(draft.issues)} flag(s) to review" if draft.issues else ""
                    self.message_user(request, f"Proposal stored, inactive{note}.")
                    change = reverse("admin:surveys_surveyproposal_change", args=[survey.pk])
                    return HttpResponseRedirect(change)
                why = "; ".join(i.text for i in draft.issues) or "no questions"
                self.message_user(
                    request, f"The LLM proposed nothing usable: {why}", messages.ERROR
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Propose survey questions with the LLM",
            "form": form,
            "opts": self.model._meta,
            "llm_configured": approvals.llm_configured(),
        }
        return TemplateResponse(request, "admin/surveys/surveyproposal/propose.html", context)

    def approve_view(self, request: HttpRequest, pk: int):
        """POST: activate the proposal (Managers only, and only without open issues)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not approvals.can_approve(request.user):
            raise PermissionDenied("only Managers approve surveys")
        proposal = get_object_or_404(SurveyProposal, pk=pk)
        try:
            approve_proposal(proposal, request.user)
            self.message_user(request, "Approved: invitations use this survey from now on.")
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:surveys_surveyproposal_change", args=[pk]))

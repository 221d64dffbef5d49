"""The waitlist's planning screens in the admin: best slots for one request, and a batch plan.

- "Find best slots" (`<id>/slots/`): the k best slots from `planning.suggest_for_request` with
  score and reason, each bookable with one click through `services.book`.
- "Optimise the next N days" (`optimise/`): runs `optimizer.optimize` (and `first_fit` for
  comparison) over the open requests and shows the plan; a second POST books it, each booking
  re-validated by `services.book` in its own transaction. The preview saves nothing: the plan
  travels signed in the form, so what is booked is exactly what was shown.

`PlanningAdminMixin` is mixed into `scheduling.admin.AppointmentRequestAdmin`.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from scheduling import optimizer, planning, services
from scheduling.models import (
    AppointmentRequest,
    CreatedVia,
    Location,
    Provider,
    RequestStatus,
)

log = logging.getLogger(__name__)

BOOKABLE = (RequestStatus.OPEN, RequestStatus.OFFERED)
PLAN_SALT = "scheduling.admin_planning.plan"
PLAN_MAX_AGE_S = 3600  # a plan older than an hour is stale: run it again
NOT_BEFORE = timedelta(hours=1)  # as `planning.suggest_for_request`: nothing in the next hour


class OptimiseForm(forms.Form):
    days = forms.IntegerField(
        label="Days ahead", min_value=1, max_value=60, initial=7, help_text="From tomorrow on."
    )
    time_limit = forms.IntegerField(
        label="Time limit (seconds)", min_value=1, max_value=60, initial=10
    )


def _slot_key(provider_id: str, location_id: str, start: datetime) -> str:
    return f"{provider_id}|{location_id}|{start.isoformat()}"


def book_request(
    row_id: int,
    *,
    provider_id: int,
    location_id: int,
    start: datetime,
    actor,
    via: str,
):
    """Book a waitlist request at `start` (aware) and mark it booked, or raise SchedulingError."""
    with transaction.atomic():
        # Locked so a double click or two staff members cannot book the same request twice.
        row = (
            AppointmentRequest.objects.select_for_update()
            .select_related("patient", "appointment_type")
            .get(pk=row_id)
        )
        if row.status not in BOOKABLE:
            raise services.SchedulingError(
                f"This request is {row.get_status_display().lower()}; it cannot be booked again.",
                code="request_closed",
            )
        appointment = services.book(
            patient=row.patient,
            provider=Provider.objects.get(pk=provider_id),
            location=Location.objects.get(pk=location_id),
            appointment_type=row.appointment_type,
            start=start,
            actor=actor,
            via=via,
        )
        row.status, row.booked_appointment = RequestStatus.BOOKED, appointment
        row.save(update_fields=["status", "booked_appointment"])
    return appointment


class PlanningAdminMixin:
    """Planning views and actions for the waitlist's ModelAdmin."""

    change_form_template = "admin/scheduling/appointmentrequest_change_form.html"
    change_list_template = "admin/scheduling/appointmentrequest_change_list.html"
    actions = ["find_best_slots"]

    def get_urls(self):
        prefix = f"{self.model._meta.app_label}_{self.model._meta.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/slots/", wrap(self.slots_view), name=f"{prefix}_slots"),
            path("optimise/", wrap(self.optimise_view), name=f"{prefix}_optimise"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            **extra,
        }

    @admin.action(description="Find best slots for the selected request", permissions=["change"])
    def find_best_slots(self, request: HttpRequest, queryset):
        first = queryset.order_by("pk").first()
        if queryset.count() != 1:
            self.message_user(request, "Select one request to find its slots.", messages.WARNING)
            return None
        return HttpResponseRedirect(
            reverse("admin:scheduling_appointmentrequest_slots", args=[first.pk])
        )

    # -- one request ----------------------------------------------------------------------------
    def slots_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        row = get_object_or_404(
            AppointmentRequest.objects.select_related(
                "patient__home_location", "appointment_type", "location"
            ),
            pk=pk,
        )
        if not self.has_change_permission(request, row):
            raise PermissionDenied
        if request.method == "POST":
            return self._book_slot(request, row)
        blocked, rows = None, []
        if row.status not in BOOKABLE:
            blocked = f"This request is {row.get_status_display().lower()}."
        else:
            try:
                result = planning.suggest_for_request(row, k=5)
            except Exception:  # the page explains; the front desk never sees a traceback
                log.exception("suggestions failed for request %s", row.pk)
                result = None
            if result is None:
                blocked = "The slot search failed; please try again or book by hand."
            else:
                blocked = result.blocked_reason
                zone = (row.location or row.patient.home_location).zone
                names = _names(s.provider_id for s in result.suggestions)
                rows = [
                    {
                        "key": _slot_key(s.provider_id, s.location_id, s.start),
                        "start": s.start.astimezone(zone),
                        "provider": names.get(s.provider_id, s.provider_id),
                        "location": _location_name(s.location_id),
                        "score": s.score,
                        "reason": s.reason,
                    }
                    for s in result.suggestions
                ]
        return TemplateResponse(
            request,
            "admin/scheduling/request_slots.html",
            self._context(request, f"Best slots: {row}", original=row, rows=rows, blocked=blocked),
        )

    def _book_slot(self, request: HttpRequest, row: AppointmentRequest) -> HttpResponse:
        here = reverse("admin:scheduling_appointmentrequest_slots", args=[row.pk])
        try:
            provider_id, location_id, start_iso = request.POST.get("slot", "").split("|")
            start = datetime.fromisoformat(start_iso)
            appointment = book_request(
                row.pk,
                provider_id=int(provider_id),
                location_id=int(location_id),
                start=start,
                actor=request.user,
                via=CreatedVia.WAITLIST,
            )
        except services.SchedulingError as exc:
            self.message_user(request, f"Not booked: {exc.messages[0]}", messages.ERROR)
            return HttpResponseRedirect(here)
        except (ValueError, Provider.DoesNotExist, Location.DoesNotExist):
            self.message_user(
                request, "Not booked: that choice is no longer valid; pick again.", messages.ERROR
            )
            return HttpResponseRedirect(here)
        local = timezone.localtime(appointment.start, appointment.location.zone)
        self.message_user(
            request,
            f"Booked {row.appointment_type} with {appointment.provider} on "
            f"{local:%a %b %d, %H:%M %Z}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:scheduling_appointmentrequest_change", args=[row.pk])
        )

    # -- the batch ------------------------------------------------------------------------------
    def optimise_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST" and "confirm" in request.POST:
            return self._book_plan(request)
        form = OptimiseForm(request.POST if request.method == "POST" else None)
        context = {"form": form}
        if form.is_bound and form.is_valid():
            context.update(_plan(form.cleaned_data["days"], form.cleaned_data["time_limit"]))
        return TemplateResponse(
            request,
            "admin/scheduling/optimise.html",
            self._context(request, "Optimise the waitlist", **context),
        )

    def _book_plan(self, request: HttpRequest) -> HttpResponse:
        back = reverse("admin:scheduling_appointmentrequest_changelist")
        try:
            plan = signing.loads(
                request.POST.get("plan", ""), salt=PLAN_SALT, max_age=PLAN_MAX_AGE_S
            )
        except signing.SignatureExpired:
            self.message_user(
                request, "That plan is over an hour old; run it again.", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:scheduling_appointmentrequest_optimise"))
        except signing.BadSignature:
            self.message_user(request, "That plan could not be read; run it again.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:scheduling_appointmentrequest_optimise"))
        booked, failed = 0, []
        for request_id, provider_id, location_id, start_iso in plan:
            try:
                # One transaction per booking: one that became impossible does not undo the rest.
                book_request(
                    int(request_id),
                    provider_id=int(provider_id),
                    location_id=int(location_id),
                    start=datetime.fromisoformat(start_iso),
                    actor=request.user,
                    via=CreatedVia.OPTIMIZER,
                )
                booked += 1
            except services.SchedulingError as exc:
                failed.append(f"request #{request_id}: {exc.messages[0]}")
            except (AppointmentRequest.DoesNotExist, Provider.DoesNotExist, Location.DoesNotExist):
                failed.append(f"request #{request_id}: it no longer exists")
        if booked:
            self.message_user(request, f"Booked {booked} request(s).", messages.SUCCESS)
        if failed:
            self.message_user(
                request,
                "Not booked (changed since the plan): " + "; ".join(failed[:20]),
                messages.WARNING,
            )
        if not booked and not failed:
            self.message_user(request, "The plan was empty; nothing booked.", messages.INFO)
        return HttpResponseRedirect(back)


def _names(provider_ids) -> dict[str, str]:
    ids = {int(p) for p in provider_ids}
    return {str(p.pk): p.display_name for p in Provider.objects.filter(pk__in=ids)}


def _location_name(location_id: str) -> str:
    location = Location.objects.filter(pk=int(location_id)).first()
    return location.name if location else location_id


def _plan(days: int, time_limit: int) -> dict:
    """Run the optimiser over the open requests of the next `days` days; nothing is saved."""
    now = timezone.now()
    lo = now + NOT_BEFORE
    today = timezone.localdate()
    hi = datetime.combine(
        today + timedelta(days=days + 1),
        datetime.min.time(),
        tzinfo=timezone.get_current_timezone(),
    )
    rows = {str(r.pk): r for r in planning.waitlist_rows(today, today + timedelta(days=days))}
    requests, skipped = [], {}
    for row in rows.values():
        req = planning.booking_request(row, not_before=lo)
        req = dataclasses.replace(req, window_end=min(req.window_end, hi))
        if req.window_end <= req.window_start:
            skipped[str(row.pk)] = "its window does not reach into the next days"
        elif not req.providers:
            skipped[str(row.pk)] = f"no active provider may see '{row.appointment_type}'"
        else:
            requests.append(req)
    clinic = planning.snapshot(lo, hi)
    best = optimizer.optimize(clinic, requests, time_limit=float(time_limit))
    baseline = optimizer.first_fit(clinic, requests)
    names = _names(a.provider_id for a in best.assignments)
    locations = {str(loc.pk): loc for loc in Location.objects.all()}
    proposals = []
    for a in sorted(best.assignments, key=lambda a: a.start):
        row, location = rows[a.request_id], locations[a.location_id]
        proposals.append(
            {
                "row": row,
                "provider": names.get(a.provider_id, a.provider_id),
                "location": location.name,
                "start": a.start.astimezone(location.zone),
                "points": a.points,
                "reason": best.reasons.get(a.request_id, ""),
            }
        )
    placed = {a.request_id for a in best.assignments}
    unplaced = [
        {"row": row, "reason": skipped.get(rid) or best.reasons.get(rid, "not scheduled")}
        for rid, row in rows.items()
        if rid not in placed
    ]
    plan = [
        [a.request_id, a.provider_id, a.location_id, a.start.isoformat()] for a in best.assignments
    ]
    return {
        "result": best,
        "baseline": baseline,
        "proposals": proposals,
        "unplaced": unplaced,
        "plan": signing.dumps(plan, salt=PLAN_SALT),
        "considered": len(rows),
    }

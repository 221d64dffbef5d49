"""The front desk's admin: appointments by day, patients with their visits, the waitlist."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from scheduling import services
from scheduling.admin_planning import PlanningAdminMixin
from scheduling.forms import AppointmentForm, AppointmentRequestForm, CancelForm
from scheduling.models import (
    Appointment,
    AppointmentChange,
    AppointmentRequest,
    AppointmentStatus,
    AppointmentType,
    Break,
    ClinicClosure,
    Location,
    Patient,
    Provider,
    Specialty,
    TimeOff,
    WorkingHours,
)


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "state", "phone", "time_zone"]
    search_fields = ["name", "city"]


@admin.register(Specialty)
class SpecialtyAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0
    fields = ["location", "weekday", "start_time", "end_time"]
    show_change_link = True


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["display_name", "specialty", "active"]
    list_filter = ["active", "specialty", "locations"]
    search_fields = ["first_name", "last_name", "specialty__name"]
    list_select_related = ["specialty"]
    filter_horizontal = ["locations"]
    inlines = [WorkingHoursInline, TimeOffInline]


class BreakInline(admin.TabularInline):
    model = Break
    extra = 0


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = ["provider", "location", "weekday", "start_time", "end_time"]
    list_filter = ["weekday", "location", "provider"]
    list_select_related = ["provider", "location"]
    autocomplete_fields = ["provider"]
    search_fields = ["provider__last_name"]
    inlines = [BreakInline]


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ["provider", "start", "end", "reason"]
    list_select_related = ["provider"]
    autocomplete_fields = ["provider"]
    date_hierarchy = "start"


@admin.register(ClinicClosure)
class ClinicClosureAdmin(admin.ModelAdmin):
    list_display = ["location", "start_date", "end_date", "reason"]
    list_filter = ["location"]
    list_select_related = ["location"]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "duration_minutes", "buffer_after_minutes", "visit_kind", "active"]
    list_filter = ["visit_kind", "active", "specialties"]
    search_fields = ["name", "name_es"]
    filter_horizontal = ["specialties"]


class _VisitInline(admin.TabularInline):
    model = Appointment
    fk_name = "patient"
    fields = ["local_start_display", "provider", "location", "appointment_type", "status"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="When (local)")
    def local_start_display(self, obj: Appointment) -> str:
        return f"{obj.local_start:%a %Y-%m-%d %H:%M %Z}"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class UpcomingVisitInline(_VisitInline):
    verbose_name_plural = "Upcoming appointments"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(start__gte=timezone.now())
            .select_related("provider", "location", "appointment_type")
            .order_by("start")
        )


class PastVisitInline(_VisitInline):
    verbose_name_plural = "Past appointments"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(start__lt=timezone.now())
            .select_related("provider", "location", "appointment_type")
            .order_by("-start")
        )


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "date_of_birth",
        "phone",
        "email",
        "preferred_language",
        "preferred_channel",
        "home_location",
        "record_number",
    ]
    list_filter = ["preferred_language", "preferred_channel", "home_location"]
    search_fields = ["first_name", "last_name", "phone", "email", "record_number"]
    list_select_related = ["home_location"]
    autocomplete_fields = ["usual_provider"]
    readonly_fields = ["created_at"]
    inlines = [UpcomingVisitInline, PastVisitInline]
    fieldsets = [
        (None, {"fields": [("first_name", "last_name"), "date_of_birth", "record_number"]}),
        ("Contact", {"fields": ["phone", "email", "preferred_channel", "preferred_language"]}),
        ("Care", {"fields": ["home_location", "time_zone", "usual_provider", "created_at"]}),
    ]


class AppointmentChangeInline(admin.TabularInline):
    model = AppointmentChange
    fields = ["at", "actor_label", "action", "changes"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "History"


class DayFilter(admin.SimpleListFilter):
    title = "day"
    parameter_name = "day"

    def lookups(self, request, model_admin):
        return [
            ("today", "Today"),
            ("tomorrow", "Tomorrow"),
            ("next7", "Next 7 days"),
            ("past", "Past"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        day = timezone.timedelta(days=1)
        ranges = {
            "today": (today, today + day),
            "tomorrow": (today + day, today + 2 * day),
            "next7": (now, now + 7 * day),
        }
        if self.value() == "past":
            return queryset.filter(start__lt=now)
        if self.value() in ranges:
            low, high = ranges[self.value()]
            return queryset.filter(start__gte=low, start__lt=high)
        return queryset


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    form = AppointmentForm
    list_display = [
        "when",
        "patient",
        "provider",
        "location",
        "appointment_type",
        "status_badge",
        "created_via",
    ]
    list_filter = [DayFilter, "status", "location", "provider", "appointment_type", "created_via"]
    date_hierarchy = "start"
    search_fields = [
        "patient__first_name",
        "patient__last_name",
        "patient__phone",
        "patient__record_number",
        "patient__email",
    ]
    autocomplete_fields = ["patient", "provider"]
    list_select_related = ["patient", "provider", "location", "appointment_type"]
    readonly_fields = [
        "status",
        "cancel_reason",
        "created_by",
        "created_via",
        "created_at",
        "updated_at",
    ]
    inlines = [AppointmentChangeInline]
    actions = ["confirm_selected", "cancel_selected", "mark_completed", "mark_no_show"]
    list_per_page = 50

    def get_inline_instances(self, request, obj=None):
        # A visit being booked has no history or messages yet.
        return super().get_inline_instances(request, obj) if obj else []

    def get_fields(self, request, obj=None):
        fields = [
            "patient",
            "provider",
            "location",
            "appointment_type",
            "local_date",
            "local_time",
            "notes",
        ]
        return fields + (self.readonly_fields if obj else [])

    @admin.display(description="When (local)", ordering="start")
    def when(self, obj: Appointment) -> str:
        return f"{obj.local_start:%a %b %d, %H:%M %Z}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Appointment) -> str:
        colour = {
            "confirmed": "#1a7f37",
            "cancelled": "#8c959f",
            "no_show": "#cf222e",
            "completed": "#0969da",
        }.get(obj.status, "#9a6700")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_status_display())

    def save_model(self, request: HttpRequest, obj: Appointment, form, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            services.book(
                patient=data["patient"],
                provider=data["provider"],
                location=data["location"],
                appointment_type=data["appointment_type"],
                start=form.booking_start,
                actor=request.user,
                notes=data["notes"],
                instance=obj,
            )
            return
        if form.booking_start is not None:
            services.reschedule(
                obj,
                start=form.booking_start,
                provider=data["provider"],
                location=data["location"],
                actor=request.user,
            )
        if "notes" in form.changed_data:
            Appointment.objects.filter(pk=obj.pk).update(notes=data["notes"])
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None) -> bool:
        # Appointments are cancelled, never deleted: the history is part of the record.
        return request.user.is_superuser

    def _apply(self, request, queryset: QuerySet, action, verb: str, **kwargs) -> None:
        done, failed = 0, []
        for appointment in queryset.select_related("patient"):
            try:
                action(appointment, actor=request.user, **kwargs)
                done += 1
            except services.SchedulingError as exc:
                failed.append(f"#{appointment.pk}: {exc.messages[0]}")
        if done:
            self.message_user(request, f"{verb} {done} appointment(s).", messages.SUCCESS)
        if failed:
            self.message_user(request, "Not changed: " + "; ".join(failed[:10]), messages.ERROR)

    @admin.action(description="Confirm selected appointments", permissions=["change"])
    def confirm_selected(self, request, queryset):
        self._apply(request, queryset, services.confirm, "Confirmed")

    @admin.action(description="Mark selected as completed", permissions=["change"])
    def mark_completed(self, request, queryset):
        self._apply(
            request,
            queryset,
            services.mark_outcome,
            "Marked completed",
            outcome=AppointmentStatus.COMPLETED,
        )

    @admin.action(description="Mark selected as no-show", permissions=["change"])
    def mark_no_show(self, request, queryset):
        self._apply(
            request,
            queryset,
            services.mark_outcome,
            "Marked no-show",
            outcome=AppointmentStatus.NO_SHOW,
        )

    @admin.action(
        description="Cancel selected appointments (asks for a reason)", permissions=["change"]
    )
    def cancel_selected(self, request, queryset):
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            with transaction.atomic():
                self._apply(
                    request,
                    queryset,
                    services.cancel,
                    "Cancelled",
                    reason=form.cleaned_data["reason"],
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel appointments",
            "form": form,
            "appointments": queryset.select_related("patient", "provider", "location"),
            "action": "cancel_selected",
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/scheduling/cancel_appointments.html", context)


@admin.register(AppointmentRequest)
class AppointmentRequestAdmin(PlanningAdminMixin, admin.ModelAdmin):
    form = AppointmentRequestForm
    list_display = [
        "patient",
        "appointment_type",
        "location",
        "earliest_date",
        "latest_date",
        "urgency",
        "status",
        "created_at",
    ]
    list_filter = ["status", "urgency", "appointment_type", "location"]
    search_fields = [
        "patient__first_name",
        "patient__last_name",
        "patient__phone",
        "patient__record_number",
    ]
    autocomplete_fields = ["patient", "acceptable_providers"]
    list_select_related = ["patient", "appointment_type", "location"]
    readonly_fields = ["booked_appointment", "created_at"]

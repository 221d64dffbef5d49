"""Read-only admin for waitlist offers: which freed slots went to whom, and what happened.

Rows are written by `comms.offers` only; staff look, they do not edit (an edited offer would
no longer match the message the patient received).
"""

from __future__ import annotations

from django.contrib import admin

from comms.models import SlotRelease, WaitlistOffer


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OfferInline(admin.TabularInline):
    model = WaitlistOffer
    fields = ["rank", "batch", "request", "start", "state", "offered_at", "expires_at", "reason"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["rank"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("request__appointment_type")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SlotRelease)
class SlotReleaseAdmin(_ReadOnly):
    list_display = ["__str__", "provider", "location", "start", "end", "state", "filled_by_id"]
    list_filter = ["state", "location", "provider"]
    list_select_related = ["provider", "location"]
    search_fields = ["provider__last_name", "provider__first_name"]
    date_hierarchy = "start"
    inlines = [OfferInline]


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(_ReadOnly):
    list_display = [
        "__str__",
        "release_id",
        "patient",
        "rank",
        "batch",
        "start",
        "state",
        "offered_at",
        "expires_at",
        "closed_at",
    ]
    list_filter = ["state", "batch", "release__provider"]
    list_select_related = ["patient"]
    search_fields = ["patient__last_name", "patient__first_name"]
    raw_id_fields = ["release", "request", "patient", "message", "booked_appointment"]
    date_hierarchy = "start"

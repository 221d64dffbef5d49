from django.contrib import admin

from comms.models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["beat_at", "worker", "task_id"]
    readonly_fields = ["beat_at", "worker", "task_id"]

    def has_add_permission(self, request) -> bool:
        return False

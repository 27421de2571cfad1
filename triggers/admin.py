"""Admin registrations (the DLQ console grows here)."""

from django.contrib import admin

from triggers.models import Trigger, TriggerExecution


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "source", "action_type", "enabled", "created_at"]
    list_filter = ["source", "action_type", "enabled"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["public_id", "created_at", "updated_at"]


@admin.register(TriggerExecution)
class TriggerExecutionAdmin(admin.ModelAdmin):
    list_display = ["id", "trigger", "status", "error_category", "attempts", "duplicate_count", "created_at"]
    list_filter = ["status", "error_category"]
    list_select_related = ["trigger"]
    search_fields = ["idempotency_key", "error"]

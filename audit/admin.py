from django.contrib import admin

from audit.models import (
    Alert,
    AlertDelivery,
    AlertWebhook,
    ChainHead,
    LogEntry,
    LogPolicy,
    LogSink,
)


class _ReadOnly(admin.ModelAdmin):
    """Log rows are evidence: the admin shows them and never writes them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LogEntry)
class LogEntryAdmin(_ReadOnly):
    list_display = ["at", "workspace", "seq", "hop", "gateway_slug", "user_email", "outcome"]
    list_filter = ["workspace", "hop", "outcome"]
    search_fields = ["correlation_id", "tool", "user_email", "rpc_method"]
    show_full_result_count = False


@admin.register(ChainHead)
class ChainHeadAdmin(_ReadOnly):
    list_display = ["workspace", "seq", "digest", "anchor_seq"]


@admin.register(LogPolicy)
class LogPolicyAdmin(admin.ModelAdmin):
    list_display = ["workspace", "payload_mode", "payload_max_kb", "retention_days"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["last_at", "workspace", "kind", "title", "count", "acknowledged_at"]
    list_filter = ["workspace", "kind"]
    search_fields = ["title", "subject", "gateway_slug"]
    readonly_fields = [f.name for f in Alert._meta.fields if f.name != "acknowledged_at"]


@admin.register(LogSink)
class LogSinkAdmin(admin.ModelAdmin):
    """Shown for operators; changes go through the API so they are validated and recorded."""

    list_display = ["workspace", "name", "kind", "enabled", "cursor_seq", "failures", "last_error"]
    list_filter = ["workspace", "kind", "enabled"]
    exclude = ["secret"]
    readonly_fields = [f.name for f in LogSink._meta.fields if f.name != "secret"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AlertWebhook)
class AlertWebhookAdmin(admin.ModelAdmin):
    """Shown for operators; changes go through the API or console so they are recorded."""

    list_display = ["workspace", "endpoint", "enabled", "last_status", "last_attempt_at"]
    exclude = ["secret"]
    readonly_fields = [f.name for f in AlertWebhook._meta.fields if f.name != "secret"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "alert", "state", "attempts", "last_error"]
    list_filter = ["workspace", "state"]
    readonly_fields = [f.name for f in AlertDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

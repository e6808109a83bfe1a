from django.contrib import admin

from audit.models import ChainHead, ConfigChange, LogEntry, LogPolicy


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "actor", "action", "target_type", "target"]
    list_filter = ["workspace", "action", "target_type"]
    search_fields = ["target", "actor__email"]
    readonly_fields = [f.name for f in ConfigChange._meta.fields]


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

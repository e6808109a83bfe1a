from django.contrib import admin

from audit.models import ConfigChange


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "actor", "action", "target_type", "target"]
    list_filter = ["workspace", "action", "target_type"]
    search_fields = ["target", "actor__email"]
    readonly_fields = [f.name for f in ConfigChange._meta.fields]

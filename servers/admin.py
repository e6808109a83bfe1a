from django.contrib import admin

from servers.models import Server


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "kind", "transport", "health", "catalog_updated_at"]
    list_filter = ["workspace", "kind", "health"]
    search_fields = ["name", "url", "command"]
    readonly_fields = ["catalog", "catalog_updated_at", "health", "health_detail"]

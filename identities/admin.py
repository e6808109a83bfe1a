from django.contrib import admin

from identities.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "workspace", "user", "gateway", "expires_at", "revoked_at"]
    list_filter = ["workspace"]
    readonly_fields = ["prefix", "digest", "last_used_at", "created_at"]
    search_fields = ["name", "prefix", "user__email"]

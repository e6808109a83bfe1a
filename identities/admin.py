from django.contrib import admin

from identities.models import ApiToken, UpstreamCredential


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "kind",
        "workspace",
        "user",
        "gateway",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["workspace", "kind"]
    # Kind and scopes are checked against the owner's role when issued (identities/services.py).
    readonly_fields = ["prefix", "digest", "kind", "scopes", "last_used_at", "created_at"]
    search_fields = ["name", "prefix", "user__email"]


@admin.register(UpstreamCredential)
class UpstreamCredentialAdmin(admin.ModelAdmin):
    list_display = ["assignment", "owner", "kind", "hint", "workspace", "disabled_at"]
    list_filter = ["workspace", "kind"]
    # The encrypted payload is neither shown nor edited here: secrets are set through the API.
    exclude = ["secret"]
    readonly_fields = ["kind", "hint", "details", "created_by", "last_used_at", "created_at"]
    search_fields = ["owner__email", "hint"]

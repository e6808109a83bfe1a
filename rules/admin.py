from django.contrib import admin

from rules import services
from rules.models import Rule


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    """Read-mostly: rules are changed through the API, console and `apply`, whose services
    validate the detector settings and tell the data plane; the admin shows what is there."""

    list_display = ["name", "workspace", "gateway", "detector", "action", "mode", "enabled"]
    list_filter = ["workspace", "detector", "action", "mode", "enabled"]
    search_fields = ["name", "description"]
    raw_id_fields = ["gateway", "assignment"]
    readonly_fields = [
        "workspace",
        "gateway",
        "assignment",
        "detector",
        "detector_config",
        "action",
        "action_config",
        "conditions",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        # Through the service, so the change is validated, audited and reaches the data plane.
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        if changes:
            services.update_rule(rule=Rule.objects.get(pk=obj.pk), actor=request.user, **changes)

    def delete_model(self, request, obj):
        services.delete_rule(rule=obj, actor=request.user)

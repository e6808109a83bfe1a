"""The Django admin of gateways and their assignments; a save there recompiles the gateway
like a change through the console or the API."""

from django.contrib import admin

from gateways.models import Assignment, Gateway
from gateways.services import bump_config_version


class AssignmentInline(admin.TabularInline):
    model = Assignment
    extra = 0
    fields = ["server", "namespace", "prefix_mode", "identity_scheme", "tool_mode", "position"]
    raw_id_fields = ["server"]


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    list_display = ["slug", "workspace", "name", "config_version"]
    list_filter = ["workspace"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["teams"]
    readonly_fields = ["config_version"]
    inlines = [AssignmentInline]

    def save_formset(self, request, form, formset, change):
        for instance in formset.save(commit=False):
            instance.workspace_id = form.instance.workspace_id
            instance.save()
        formset.save_m2m()
        for obj in formset.deleted_objects:
            obj.delete()
        bump_config_version(form.instance)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["gateway", "server", "namespace", "identity_scheme", "tool_mode"]
    list_filter = ["workspace", "identity_scheme", "tool_mode"]
    list_select_related = ["gateway", "server"]

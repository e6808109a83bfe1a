from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from teams.models import ConfigChange, Membership, Role, Team, User, Workspace


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["workspace", "key", "name", "builtin", "locked"]
    list_filter = ["workspace", "builtin"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["workspace", "slug", "name"]
    list_filter = ["workspace"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["workspace", "user", "role"]
    list_filter = ["workspace", "role__key"]
    list_select_related = ["workspace", "user", "role"]
    filter_horizontal = ["teams"]
    raw_id_fields = ["user"]


@admin.register(ConfigChange)
class ConfigChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "workspace", "actor", "action", "target_type", "target"]
    list_filter = ["workspace", "action", "target_type"]
    search_fields = ["target", "actor__email"]
    readonly_fields = [f.name for f in ConfigChange._meta.fields]

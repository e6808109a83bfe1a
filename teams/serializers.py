"""Input and output shapes of the workspace, team, role and member API.

Inputs mirror the model constraints so malformed values are a 400 before any service runs;
outputs are read-only views of rows. Nothing here saves: the views call teams.services.
"""

from rest_framework import serializers

from teams.models import Membership, Role, Team, slug_validator


class WorkspaceOfCallerOutput(serializers.Serializer):
    """One workspace in the caller's list, with the caller's own role in it."""

    slug = serializers.CharField(source="workspace.slug")
    name = serializers.CharField(source="workspace.name")
    role = serializers.CharField(source="role.key")


class WorkspaceOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    role = serializers.SerializerMethodField()
    capabilities = serializers.SerializerMethodField()

    def get_role(self, workspace) -> str:
        return self.context["membership"].role.key

    def get_capabilities(self, workspace) -> list[str]:
        return sorted(self.context["membership"].role.capability_set)


class WorkspaceUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)


class TeamOutput(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["slug", "name"]
        read_only_fields = fields


class TeamCreateInput(serializers.Serializer):
    slug = serializers.CharField(max_length=50, validators=[slug_validator])
    name = serializers.CharField(max_length=120)


class TeamUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)


class RoleOutput(serializers.ModelSerializer):
    class Meta:
        model = Role
        fields = ["key", "name", "capabilities", "builtin", "locked"]
        read_only_fields = fields


class RoleCreateInput(serializers.Serializer):
    key = serializers.CharField(max_length=50, validators=[slug_validator])
    name = serializers.CharField(max_length=120)
    capabilities = serializers.ListField(child=serializers.CharField(), default=list)


class RoleUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    capabilities = serializers.ListField(child=serializers.CharField(), required=False)


class RoleDuplicateInput(serializers.Serializer):
    key = serializers.CharField(max_length=50, validators=[slug_validator])
    name = serializers.CharField(max_length=120)


class CapabilityOutput(serializers.Serializer):
    """One entry of the catalogue (a `teams.capabilities.Capability`)."""

    key = serializers.CharField()
    label = serializers.CharField()


class CapabilityGroupOutput(serializers.Serializer):
    group = serializers.CharField()
    capabilities = CapabilityOutput(many=True)


class MemberOutput(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    role = serializers.CharField(source="role.key")
    teams = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        # `active` is false for a suspended member: listed, but granted nothing.
        fields = ["id", "email", "role", "teams", "active", "created_at"]
        read_only_fields = fields

    def get_teams(self, membership) -> list[str]:
        # Sorted in Python so the prefetched teams are used (an order_by would query again).
        return sorted(team.slug for team in membership.teams.all())


class MemberInviteInput(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.CharField(max_length=50, default="member")
    teams = serializers.ListField(child=serializers.CharField(max_length=50), default=list)


class MemberUpdateInput(serializers.Serializer):
    role = serializers.CharField(max_length=50, required=False)
    teams = serializers.ListField(child=serializers.CharField(max_length=50), required=False)

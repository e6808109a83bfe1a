"""Input and output shapes of the gateway, assignment and report API."""

from rest_framework import serializers

from gateways.models import Assignment, Gateway
from teams.models import slug_validator


class GatewayOutput(serializers.ModelSerializer):
    teams = serializers.SerializerMethodField()
    mcp_path = serializers.SerializerMethodField()

    class Meta:
        model = Gateway
        fields = [
            "slug",
            "name",
            "description",
            "teams",
            "mcp_path",
            "config_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_teams(self, gateway) -> list[str]:
        # Sorted in Python so the prefetched teams are used (an order_by would query again).
        return sorted(team.slug for team in gateway.teams.all())

    def get_mcp_path(self, gateway) -> str:
        return f"/mcp/{self.context['workspace'].slug}/{gateway.slug}"


class GatewayCreateInput(serializers.Serializer):
    slug = serializers.CharField(max_length=50, validators=[slug_validator])
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(allow_blank=True, default="")


class GatewayUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(allow_blank=True, required=False)


class GatewayTeamsInput(serializers.Serializer):
    teams = serializers.ListField(child=serializers.CharField(max_length=50))


class AssignmentOutput(serializers.ModelSerializer):
    server = serializers.CharField(source="server.name")

    class Meta:
        model = Assignment
        fields = [
            "id",
            "server",
            "namespace",
            "prefix_mode",
            "identity_scheme",
            "tool_mode",
            "tool_allow",
            "tool_overrides",
            "prompts_enabled",
            "resources_enabled",
            "timeout_seconds",
            "position",
            "created_at",
        ]
        read_only_fields = fields


class AssignmentUpdateInput(serializers.Serializer):
    namespace = serializers.CharField(max_length=32, allow_blank=True, required=False)
    prefix_mode = serializers.ChoiceField(choices=Assignment.PrefixMode.choices, required=False)
    identity_scheme = serializers.ChoiceField(
        choices=Assignment.IdentityScheme.choices, required=False
    )
    timeout_seconds = serializers.FloatField(min_value=0.1, allow_null=True, required=False)
    position = serializers.IntegerField(min_value=0, required=False)
    tool_mode = serializers.ChoiceField(choices=Assignment.ToolMode.choices, required=False)
    tool_allow = serializers.ListField(child=serializers.CharField(), required=False)
    tool_overrides = serializers.DictField(child=serializers.DictField(), required=False)
    prompts_enabled = serializers.BooleanField(required=False)
    resources_enabled = serializers.BooleanField(required=False)


class AssignmentCreateInput(AssignmentUpdateInput):
    server = serializers.CharField(max_length=64, help_text="The name of a server.")


class GatewayAssignmentCount(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    assignments = serializers.IntegerField()


class SummaryOutput(serializers.Serializer):
    gateways = serializers.IntegerField()
    servers = serializers.IntegerField()
    assignments = serializers.IntegerField()
    members = serializers.IntegerField()
    active_tokens = serializers.IntegerField()
    per_gateway = GatewayAssignmentCount(many=True)

"""Input and output shapes of the gateway, assignment and report API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from gateways import admission, pinning, selectors
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
            "limits",
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


# Limits are checked by the service (gateways/rate_limits.py), so the console, the API and
# `apply` give the same messages; the serializer only documents their shape.
_LIMITS_HELP = (
    "Rate limits, [{scope: person|token|gateway|tool, rate: '60/minute', tool}]; "
    "the list replaces the gateway's limits."
)


class GatewayCreateInput(serializers.Serializer):
    slug = serializers.CharField(max_length=50, validators=[slug_validator])
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(allow_blank=True, default="")
    limits = serializers.JSONField(required=False, help_text=_LIMITS_HELP)


class GatewayUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    limits = serializers.JSONField(required=False, help_text=_LIMITS_HELP)


class GatewayTeamsInput(serializers.Serializer):
    teams = serializers.ListField(child=serializers.CharField(max_length=50))


class PinChangeOutput(serializers.Serializer):
    tool = serializers.CharField()
    pinned_digest = serializers.CharField()
    current_digest = serializers.CharField()
    pinned = serializers.DictField(help_text="The approved definition.")
    current = serializers.DictField(help_text="The definition the last discovery found.")
    diff = serializers.CharField(help_text="A unified diff of the two, as pretty JSON.")


class AdmissionReasonOutput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[
            admission.INSTRUCTIONS,
            admission.INVISIBLE,
            admission.UNKNOWN_HOST,
            admission.SHADOWING,
        ]
    )
    text = serializers.CharField()


class AdmissionHoldOutput(serializers.Serializer):
    tool = serializers.CharField()
    digest = serializers.CharField(help_text="The fingerprint an approval would admit.")
    reasons = AdmissionReasonOutput(many=True)
    definition = serializers.DictField(help_text="The definition the last discovery found.")


class AssignmentOutput(serializers.ModelSerializer):
    server = serializers.CharField(source="server.name")
    approval_team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    tool_pins = serializers.SerializerMethodField()
    pending_pin_changes = serializers.SerializerMethodField()
    tool_admissions = serializers.SerializerMethodField()
    pending_admissions = serializers.SerializerMethodField()

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
            "tool_pinning",
            "tool_pins",
            "pending_pin_changes",
            "tool_admissions",
            "pending_admissions",
            "prompts_enabled",
            "resources_enabled",
            "timeout_seconds",
            "max_call_seconds",
            "max_result_bytes",
            "approval_tools",
            "approval_team",
            "approval_timeout_seconds",
            "position",
            "created_at",
        ]
        read_only_fields = fields

    def get_tool_pins(self, assignment) -> dict[str, str]:
        """Pinned tool -> digest of its approved definition."""
        return pinning.digests(assignment.tool_pins)

    @extend_schema_field(PinChangeOutput(many=True))
    def get_pending_pin_changes(self, assignment) -> list[dict]:
        """Pinned tools whose discovered definition changed: withheld until approved."""
        if not assignment.tool_pinning:
            return []
        tools = pinning.discovered_tools(assignment.server.catalog)
        return PinChangeOutput(pinning.changes(assignment.tool_pins, tools), many=True).data

    def get_tool_admissions(self, assignment) -> dict[str, dict]:
        """Flagged tools an admin approved: the fingerprint approved, by whom and when."""
        return {
            name: {k: record.get(k) for k in ("digest", "approved_by", "approved_at")}
            for name, record in (assignment.tool_admissions or {}).items()
            if isinstance(record, dict)
        }

    @extend_schema_field(AdmissionHoldOutput(many=True))
    def get_pending_admissions(self, assignment) -> list[dict]:
        """Tools the admission checks flagged: withheld until approved."""
        # The gateway's catalogs are read once per answer, not once per assignment listed.
        key = ("gateway_catalogs", assignment.gateway_id)
        if key not in self.context:
            self.context[key] = selectors.gateway_catalogs(assignment)
        holds = selectors.admission_holds(assignment, self.context[key])
        return AdmissionHoldOutput(holds, many=True).data


class AssignmentUpdateInput(serializers.Serializer):
    namespace = serializers.CharField(max_length=32, allow_blank=True, required=False)
    prefix_mode = serializers.ChoiceField(choices=Assignment.PrefixMode.choices, required=False)
    identity_scheme = serializers.ChoiceField(
        choices=Assignment.IdentityScheme.choices, required=False
    )
    timeout_seconds = serializers.FloatField(min_value=0.1, allow_null=True, required=False)
    max_call_seconds = serializers.FloatField(
        min_value=0.1,
        allow_null=True,
        required=False,
        help_text="Longest one call may run, progress or not; null: MCP_MAX_CALL_SECONDS.",
    )
    max_result_bytes = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        allow_null=True,
        required=False,
        help_text="Largest reply taken, in bytes; null: the server's max_reply_bytes, else "
        "UPSTREAM_MAX_REPLY_BYTES.",
    )
    position = serializers.IntegerField(min_value=0, required=False)
    tool_mode = serializers.ChoiceField(choices=Assignment.ToolMode.choices, required=False)
    tool_allow = serializers.ListField(child=serializers.CharField(), required=False)
    tool_overrides = serializers.DictField(child=serializers.DictField(), required=False)
    tool_pinning = serializers.BooleanField(required=False)
    prompts_enabled = serializers.BooleanField(required=False)
    resources_enabled = serializers.BooleanField(required=False)
    approval_tools = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Upstream tool names whose every call must be approved first.",
    )
    approval_team = serializers.CharField(
        max_length=50,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="The slug of the team that approves; empty or null: the caller confirms.",
    )
    approval_timeout_seconds = serializers.IntegerField(
        min_value=1,
        max_value=3600,
        required=False,
        help_text="How long a call waits for its approval before it is refused.",
    )


class AssignmentCreateInput(AssignmentUpdateInput):
    server = serializers.CharField(max_length=64, help_text="The name of a server.")


class PinToolsInput(serializers.Serializer):
    tools = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Upstream tool names; without it, every tool the curation exposes.",
    )


class ReviewedToolInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="The upstream tool name.")
    digest = serializers.CharField(
        max_length=100,
        help_text="The fingerprint of the definition reviewed; refused (409) if the definition "
        "discovered now is another one.",
    )


class AdmitToolsInput(serializers.Serializer):
    tools = ReviewedToolInput(
        many=True,
        allow_empty=False,
        help_text="Tools whose flagged definition is approved: `digest` as in "
        "`pending_admissions`.",
    )


class ApprovePinsInput(serializers.Serializer):
    tools = ReviewedToolInput(
        many=True,
        allow_empty=False,
        help_text="Tools whose changed definition is approved: `digest` as `current_digest` in "
        "`pending_pin_changes`.",
    )


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

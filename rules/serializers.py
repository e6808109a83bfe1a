"""Input and output shapes of the rules API. Shapes only: `definitions.clean_rule` (through
the services) validates detector and action settings, with the field named in the error."""

from rest_framework import serializers

from rules.models import Rule


class RuleOutput(serializers.ModelSerializer):
    scope = serializers.CharField(read_only=True)
    # Null unless the rule is scoped to a gateway (or to one of its assignments).
    gateway = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    assignment = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "description",
            "enabled",
            "order",
            "mode",
            "scope",
            "gateway",
            "assignment",
            "direction",
            "conditions",
            "detector",
            "detector_config",
            "action",
            "action_config",
            "alert",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RuleUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(allow_blank=True, max_length=2000, required=False)
    enabled = serializers.BooleanField(required=False)
    order = serializers.IntegerField(required=False, min_value=-1_000_000, max_value=1_000_000)
    mode = serializers.ChoiceField(choices=Rule.Mode.choices, required=False)
    direction = serializers.ChoiceField(choices=Rule.Direction.choices, required=False)
    conditions = serializers.DictField(required=False)
    detector = serializers.CharField(max_length=40, required=False)
    detector_config = serializers.DictField(required=False)
    action = serializers.ChoiceField(choices=Rule.Action.choices, required=False)
    action_config = serializers.DictField(required=False)
    alert = serializers.BooleanField(required=False)


class RuleCreateInput(RuleUpdateInput):
    name = serializers.CharField(max_length=100)
    detector = serializers.CharField(max_length=40)
    gateway = serializers.CharField(
        max_length=50, required=False, allow_null=True, help_text="Slug; omit for workspace."
    )
    assignment = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of an assignment of the gateway."
    )


class PreviewInput(serializers.Serializer):
    rule = serializers.DictField(help_text="A rule definition, as for creating one.")
    sample = serializers.DictField(
        required=False, help_text="JSON-RPC params (request) or result (response)."
    )
    direction = serializers.ChoiceField(choices=["request", "response"], default="response")
    method = serializers.CharField(default="tools/call", max_length=100)
    tool = serializers.CharField(required=False, allow_null=True, max_length=200)
    server = serializers.CharField(required=False, allow_null=True, max_length=64)
    gateway = serializers.CharField(
        required=False, max_length=50, help_text="Run on this gateway's last logged calls."
    )
    limit = serializers.IntegerField(default=20, min_value=1, max_value=200)

    def validate(self, attrs):
        if "sample" not in attrs and "gateway" not in attrs:
            raise serializers.ValidationError("Give a 'sample', or a 'gateway' to replay.")
        return attrs


class PreviewOutput(serializers.Serializer):
    blocked = serializers.BooleanField()
    message = serializers.CharField()
    modified = serializers.BooleanField()
    payload = serializers.JSONField()
    events = serializers.ListField(child=serializers.DictField())


class ReorderInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), allow_empty=False
    )


class DetectorOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    actions = serializers.ListField(child=serializers.CharField())


class SecretKindOutput(serializers.Serializer):
    kind = serializers.CharField()
    family = serializers.CharField()


class DetectorsOutput(serializers.Serializer):
    detectors = DetectorOutput(many=True)
    secret_kinds = SecretKindOutput(many=True)

"""Input and output shapes of the server API. The services validate what a kind requires."""

from rest_framework import serializers

from servers.models import Server, server_name_validator


class ServerOutput(serializers.ModelSerializer):
    # Environment values of managed servers often hold credentials: only the names are shown.
    env_names = serializers.SerializerMethodField()

    class Meta:
        model = Server
        fields = [
            "name",
            "description",
            "kind",
            "transport",
            "url",
            "command",
            "args",
            "env_names",
            "health",
            "health_detail",
            "health_checked_at",
            "catalog_updated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_env_names(self, server) -> list[str]:
        return sorted(server.env)


class ServerUpdateInput(serializers.Serializer):
    description = serializers.CharField(allow_blank=True, required=False)
    kind = serializers.ChoiceField(choices=Server.Kind.choices, required=False)
    transport = serializers.ChoiceField(
        choices=Server.Transport.choices, allow_blank=True, required=False
    )
    url = serializers.CharField(max_length=500, allow_blank=True, required=False)
    command = serializers.CharField(max_length=500, allow_blank=True, required=False)
    args = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)


class ServerCreateInput(ServerUpdateInput):
    name = serializers.CharField(max_length=64, validators=[server_name_validator])
    kind = serializers.ChoiceField(choices=Server.Kind.choices, default=Server.Kind.REMOTE)

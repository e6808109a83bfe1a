"""Input and output shapes of the server API. The services validate what a kind requires."""

from rest_framework import serializers

from servers import identity_probe
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
            "scope",
            "env_keys",
            "network",
            "max_reply_bytes",
            "handshake_timeout_seconds",
            "list_deadline_seconds",
            "health",
            "health_detail",
            "health_checked_at",
            "catalog_updated_at",
            "identity_probe",
            "identity_probed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_env_names(self, server) -> list[str]:
        return sorted(server.env)


class ProbeOutput(serializers.Serializer):
    """What the identity probe found (servers/identity_probe.py) and the scheme it proposes."""

    outcome = serializers.ChoiceField(choices=identity_probe.OUTCOMES)
    message = serializers.CharField()
    proposed_scheme = serializers.CharField(
        help_text="The identity scheme to give the server's assignments; empty when the "
        "probe could not tell."
    )
    alternatives = serializers.ListField(child=serializers.CharField())
    needs_client = serializers.BooleanField(
        help_text="A client must be registered at the provider with `redirect_uri`, and its "
        "client_id and client_secret set as the assignment's shared credential (oauth_client)."
    )
    redirect_uri = serializers.CharField(
        help_text="The platform's redirect URI, to register a client with."
    )
    evidence = serializers.DictField(
        help_text="What the probe saw: HTTP status, WWW-Authenticate, resource metadata URL, "
        "authorization server, scopes_supported, registration endpoint, PKCE support."
    )
    probed_at = serializers.DateTimeField()


class ServerUpdateInput(serializers.Serializer):
    description = serializers.CharField(allow_blank=True, required=False)
    kind = serializers.ChoiceField(choices=Server.Kind.choices, required=False)
    transport = serializers.ChoiceField(
        choices=Server.Transport.choices, allow_blank=True, required=False
    )
    url = serializers.CharField(
        max_length=500,
        allow_blank=True,
        required=False,
        help_text="Remote servers: their http(s) URL. Workstation servers: an HTTP MCP server on "
        "the connector's network (resolved on the workstation), instead of a command.",
    )
    command = serializers.CharField(
        max_length=500,
        allow_blank=True,
        required=False,
        help_text="Managed servers: the command the platform runs. Workstation servers: the "
        "stdio command the connector starts on the workstation, instead of a url.",
    )
    args = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    scope = serializers.ChoiceField(
        choices=Server.Scope.choices,
        required=False,
        help_text="Workstation servers: personal (each caller's call goes to their own "
        "connector, the default) or shared (one connector serves every caller; serving it "
        "needs servers.deploy_workstation). Other kinds refuse anything but personal.",
    )
    env_keys = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Workstation servers with a command: the names of the environment variables "
        "the connector passes from the workstation to the server (at most 50; their values "
        "never reach the platform). Workstation servers refuse env values. Other kinds refuse "
        "env_keys.",
    )
    network = serializers.BooleanField(
        required=False, help_text="Managed servers: false runs the server without network access."
    )
    max_reply_bytes = serializers.IntegerField(
        min_value=1,
        allow_null=True,
        required=False,
        help_text="Largest reply taken from the server, in bytes; null: UPSTREAM_MAX_REPLY_BYTES.",
    )
    handshake_timeout_seconds = serializers.FloatField(
        min_value=0.1,
        max_value=600,
        allow_null=True,
        required=False,
        help_text="How long the handshake with the server may take; null: "
        "UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS.",
    )
    list_deadline_seconds = serializers.FloatField(
        min_value=0.1,
        max_value=600,
        allow_null=True,
        required=False,
        help_text="How long a list waits for the server's first catalog; null: "
        "UPSTREAM_LIST_DEADLINE_SECONDS.",
    )


class ServerCreateInput(ServerUpdateInput):
    name = serializers.CharField(max_length=64, validators=[server_name_validator])
    kind = serializers.ChoiceField(choices=Server.Kind.choices, default=Server.Kind.REMOTE)

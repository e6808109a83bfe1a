"""Input and output shapes of the API token endpoints. The secret appears only on creation."""

from rest_framework import serializers

from identities import connectors
from identities.models import MINTABLE_KINDS, ApiToken, Connector, UpstreamCredential


class TokenOutput(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email")
    scopes = serializers.ListField(
        child=serializers.CharField(), help_text="Of an api token: 'read' and capability keys."
    )
    gateway = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "user",
            "kind",
            "scopes",
            "gateway",
            "active",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_gateway(self, token) -> str | None:
        return token.gateway.slug if token.gateway_id else None

    def get_active(self, token) -> bool:
        return token.is_active()


class IssuedTokenOutput(TokenOutput):
    secret = serializers.SerializerMethodField(help_text="Shown once; only a digest is kept.")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, token) -> str:
        return self.context["secret"]


class TokenCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(
        choices=MINTABLE_KINDS,
        default=ApiToken.Kind.GATEWAY,
        help_text="gateway: MCP URLs only; api: the management API, within its scopes; "
        "connector: gatehouse-connect, which serves its owner's workstation servers.",
    )
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        help_text="Of an api token: 'read' and/or capability keys, within your own.",
    )
    gateway = serializers.CharField(
        max_length=50,
        required=False,
        allow_null=True,
        help_text="Of a gateway token: limit it to one gateway's slug.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    user = serializers.EmailField(
        required=False, help_text="Issue for another member (needs clients.manage_tokens)."
    )


class CredentialOutput(serializers.ModelSerializer):
    """An upstream credential as the API shows it: never the secret, only a masked hint."""

    shared = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    disabled = serializers.SerializerMethodField()

    class Meta:
        model = UpstreamCredential
        fields = [
            "id",
            "assignment",
            "shared",
            "owner",
            "kind",
            "hint",
            "details",
            "disabled",
            "created_at",
            "updated_at",
            "last_used_at",
        ]
        read_only_fields = fields

    def get_shared(self, credential) -> bool:
        return credential.owner_id is None

    def get_owner(self, credential) -> str | None:
        return credential.owner.email if credential.owner_id else None

    def get_disabled(self, credential) -> bool:
        return credential.disabled_at is not None


class CredentialInput(serializers.Serializer):
    """Write-only secrets; which fields a kind needs is checked by identities/upstream_secrets."""

    shared = serializers.BooleanField(
        default=False,
        help_text="The assignment's shared credential (needs gateways.manage) instead of your own.",
    )
    kind = serializers.ChoiceField(choices=UpstreamCredential.Kind.choices)
    token = serializers.CharField(required=False, write_only=True, trim_whitespace=True)
    headers = serializers.DictField(child=serializers.CharField(), required=False, write_only=True)
    token_url = serializers.CharField(required=False)
    client_id = serializers.CharField(required=False)
    client_secret = serializers.CharField(required=False, write_only=True)
    scope = serializers.CharField(required=False, allow_blank=True)
    auth_method = serializers.ChoiceField(
        choices=["client_secret_basic", "client_secret_post", "none"],
        required=False,
        help_text="How a pre-registered OAuth client (oauth_client) authenticates at the token "
        "endpoint; client_secret_basic by default (none without a secret).",
    )


class ConnectorOutput(serializers.ModelSerializer):
    """A `gatehouse-connect` connection: who runs it, where, what it serves, and whether it is
    live (connected, its token not revoked, heard from within three heartbeats)."""

    user = serializers.EmailField(source="user.email")
    token = serializers.CharField(source="token.prefix", help_text="The token's display prefix.")
    live = serializers.SerializerMethodField()

    class Meta:
        model = Connector
        fields = [
            "id",
            "user",
            "token",
            "host_name",
            "version",
            "servers",
            "live",
            "connected_at",
            "last_heartbeat_at",
            "disconnected_at",
            "disconnect_reason",
        ]
        read_only_fields = fields

    def get_live(self, connector) -> bool:
        return connectors.is_live(connector)

"""Input and output shapes of the API token endpoints. The secret appears only on creation."""

from rest_framework import serializers

from identities.models import ApiToken


class TokenOutput(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email")
    gateway = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "user",
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
    gateway = serializers.CharField(
        max_length=50, required=False, allow_null=True, help_text="Scope to one gateway's slug."
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    user = serializers.EmailField(
        required=False, help_text="Issue for another member (needs clients.manage_tokens)."
    )

"""The management API of Enterprise-Managed Authorization and headless clients:
`/api/v1/workspaces/<ws>/trusted-idps/` (the identity providers whose ID-JAGs are exchanged
for gateway tokens; `workspace.manage`, like single sign-on) and
`/api/v1/workspaces/<ws>/headless-clients/` (confidential clients acting as a member through
the client credentials grant; `clients.manage_tokens`, like issuing a token for a member).
A headless client's secret is in the creation answer only. Another workspace's row is a 404.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from core.errors import ValidationFailed
from identities.inbound.oauth import headless_clients, trusted_idps
from identities.models import HeadlessClient, TrustedIdp
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import CLIENTS_MANAGE_TOKENS, WORKSPACE_MANAGE
from teams.selectors import member_by_email


class TrustedIdpOutput(serializers.ModelSerializer):
    class Meta:
        model = TrustedIdp
        fields = ["id", "issuer", "jwks_url", "audience", "enabled", "created_at"]


class TrustedIdpInput(serializers.Serializer):
    issuer = serializers.CharField(max_length=500)
    jwks_url = serializers.CharField(max_length=500)
    audience = serializers.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class HeadlessClientOutput(serializers.ModelSerializer):
    client_id = serializers.CharField(source="application.client_id")
    name = serializers.CharField(source="application.name")
    member = serializers.EmailField(source="membership.user.email")

    class Meta:
        model = HeadlessClient
        fields = ["id", "client_id", "name", "member", "created_at"]


class HeadlessClientCreatedOutput(HeadlessClientOutput):
    client_secret = serializers.CharField(help_text="Shown once.")

    class Meta(HeadlessClientOutput.Meta):
        fields = [*HeadlessClientOutput.Meta.fields, "client_secret"]


class HeadlessClientInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    member = serializers.EmailField(help_text="The member whose access the client acts with.")


def _valid(serializer_class, request, *, partial: bool = False) -> dict:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@workspace_scoped
class TrustedIdpViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = TrustedIdpOutput
    queryset = TrustedIdp.objects.none()
    lookup_value_regex = r"\d+"
    required = {
        name: WORKSPACE_MANAGE
        for name in ("list", "retrieve", "create", "partial_update", "destroy")
    }

    def scoped_queryset(self, workspace):
        return TrustedIdp.objects.for_workspace(workspace)

    @extend_schema(request=TrustedIdpInput, responses={201: TrustedIdpOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(TrustedIdpInput, request)
        data.pop("enabled", None)
        idp = trusted_idps.trust_idp(workspace=self.workspace, actor=request.user, **data)
        return Response(TrustedIdpOutput(idp).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TrustedIdpInput, responses=TrustedIdpOutput)
    def partial_update(self, request, *args, **kwargs):
        idp = self.get_object()
        data = _valid(TrustedIdpInput, request, partial=True)
        if not data:
            raise ValidationFailed("Nothing to change.")
        current = {
            "issuer": idp.issuer,
            "jwks_url": idp.jwks_url,
            "audience": idp.audience,
            "enabled": idp.enabled,
        }
        idp = trusted_idps.update_trusted_idp(idp=idp, actor=request.user, **{**current, **data})
        return Response(TrustedIdpOutput(idp).data)

    def destroy(self, request, *args, **kwargs):
        trusted_idps.distrust_idp(idp=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@workspace_scoped
class HeadlessClientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceViewSet):
    serializer_class = HeadlessClientOutput
    queryset = HeadlessClient.objects.none()
    lookup_value_regex = r"\d+"
    required = {name: CLIENTS_MANAGE_TOKENS for name in ("list", "retrieve", "create", "destroy")}

    def scoped_queryset(self, workspace):
        return HeadlessClient.objects.for_workspace(workspace).select_related(
            "application", "membership__user"
        )

    @extend_schema(request=HeadlessClientInput, responses={201: HeadlessClientCreatedOutput})
    def create(self, request, *args, **kwargs):
        data = _valid(HeadlessClientInput, request)
        membership = member_by_email(self.workspace, data["member"])
        if membership is None:
            raise ValidationFailed("No active member has that address.", field="member")
        headless, secret = headless_clients.register_headless_client(
            workspace=self.workspace, membership=membership, name=data["name"], actor=request.user
        )
        body = HeadlessClientOutput(headless).data
        body["client_secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        headless_clients.delete_headless_client(headless=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""A workspace's SCIM set-up in the management API: `/workspaces/<ws>/scim/` (GET, PUT: the
role new people get and the group-to-team mapping, with the endpoint's base URL and the SCIM
tokens) and `/workspaces/<ws>/scim/tokens/` (POST: issue one, its secret in this answer only;
DELETE `.../tokens/<id>/`: revoke it). All need `workspace.manage`."""

from django.urls import re_path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from identities import selectors as identity_selectors
from identities import services as identity_services
from identities.models import ApiToken
from identities.scim import selectors, services
from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import WORKSPACE_MANAGE
from teams.scoping import get_scoped_or_404


class ScimTokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ScimIssuedTokenOutput(ScimTokenOutput):
    token = serializers.CharField(help_text="The secret, shown in this answer only.")


class ScimSettingsOutput(serializers.Serializer):
    base_url = serializers.URLField()
    default_role = serializers.CharField(allow_null=True)
    group_teams = serializers.DictField(child=serializers.CharField())
    tokens = ScimTokenOutput(many=True)


class ScimSettingsInput(serializers.Serializer):
    default_role = serializers.CharField(required=False, allow_null=True, max_length=50)
    group_teams = serializers.DictField(child=serializers.CharField(max_length=50), default=dict)


class ScimTokenInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)


def _settings(request, workspace) -> dict:
    settings = selectors.scim_settings_of(workspace)
    return {
        "base_url": request.build_absolute_uri(f"/scim/v2/{workspace.slug}/"),
        "default_role": settings.default_role.key if settings and settings.default_role else None,
        "group_teams": settings.group_teams if settings else {},
        "tokens": ScimTokenOutput(identity_selectors.scim_tokens_of(workspace), many=True).data,
    }


@workspace_scoped
class ScimViewSet(WorkspaceViewSet):
    queryset = ApiToken.objects.none()
    serializer_class = ScimTokenOutput
    required = {
        "retrieve": WORKSPACE_MANAGE,
        "update": WORKSPACE_MANAGE,
        "issue": WORKSPACE_MANAGE,
        "revoke": WORKSPACE_MANAGE,
    }

    def scoped_queryset(self, workspace):
        return identity_selectors.scim_tokens_of(workspace)

    @extend_schema(responses=ScimSettingsOutput)
    def retrieve(self, request, *args, **kwargs):
        return Response(_settings(request, self.workspace))

    @extend_schema(request=ScimSettingsInput, responses=ScimSettingsOutput)
    def update(self, request, *args, **kwargs):
        serializer = ScimSettingsInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.configure_scim(
            workspace=self.workspace,
            actor=request.user,
            acting_member=self.membership,
            default_role_key=serializer.validated_data.get("default_role"),
            group_teams=serializer.validated_data["group_teams"],
        )
        return Response(_settings(request, self.workspace))

    @extend_schema(request=ScimTokenInput, responses={201: ScimIssuedTokenOutput})
    def issue(self, request, *args, **kwargs):
        serializer = ScimTokenInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = identity_services.issue_scim_token(
            membership=self.membership, name=serializer.validated_data["name"], actor=request.user
        )
        body = {**ScimTokenOutput(issued.token).data, "token": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)

    def revoke(self, request, *args, **kwargs):
        token = get_scoped_or_404(
            identity_selectors.scim_tokens_of(self.workspace), self.workspace, pk=kwargs["id"]
        )
        identity_services.revoke_token(token=token, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


scim_routes = [
    re_path(
        r"^workspaces/(?P<workspace>[^/.]+)/scim/$",
        ScimViewSet.as_view({"get": "retrieve", "put": "update"}),
        name="workspace-scim",
    ),
    re_path(
        r"^workspaces/(?P<workspace>[^/.]+)/scim/tokens/$",
        ScimViewSet.as_view({"post": "issue"}),
        name="workspace-scim-tokens",
    ),
    re_path(
        r"^workspaces/(?P<workspace>[^/.]+)/scim/tokens/(?P<id>[0-9]+)/$",
        ScimViewSet.as_view({"delete": "revoke"}),
        name="workspace-scim-token",
    ),
]

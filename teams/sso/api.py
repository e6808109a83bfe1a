"""The workspace's single sign-on settings in the management API: `/workspaces/<ws>/sso/`.

GET and PUT, both needing `workspace.manage`. `protocol` is `oidc` or `saml`; the fields of the
other protocol are kept as stored. The client secret is write-only: the answer says only whether
one is stored. For SAML the answer carries the URLs to register at the identity provider.
"""

from django.http import Http404
from django.urls import re_path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from teams.api_base import WorkspaceViewSet
from teams.api_schema import workspace_scoped
from teams.capabilities import WORKSPACE_MANAGE
from teams.models import WorkspaceSso
from teams.sso.saml import SAML_FIELDS, service_provider_urls
from teams.sso.services import configure_sso, sso_of


class SsoOutput(serializers.Serializer):
    enabled = serializers.BooleanField()
    protocol = serializers.CharField()
    issuer = serializers.CharField()
    client_id = serializers.CharField()
    client_secret_set = serializers.SerializerMethodField()
    domains = serializers.SerializerMethodField()
    default_role = serializers.SerializerMethodField()
    groups_claim = serializers.CharField()
    group_teams = serializers.DictField(child=serializers.CharField())
    scopes = serializers.CharField()
    show_button = serializers.BooleanField()
    provider_id = serializers.CharField()
    idp_entity_id = serializers.CharField()
    idp_sso_url = serializers.CharField()
    idp_x509cert = serializers.CharField()
    idp_metadata_url = serializers.CharField()
    email_attribute = serializers.CharField()
    first_name_attribute = serializers.CharField()
    last_name_attribute = serializers.CharField()
    saml_sp = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()

    def get_saml_sp(self, sso) -> dict | None:
        return service_provider_urls(self.context["request"], sso.provider_id)

    def get_client_secret_set(self, sso) -> bool:
        return bool(sso.client_secret_encrypted)

    def get_domains(self, sso) -> list[str]:
        return [d.domain for d in sso.domains.all()]

    def get_default_role(self, sso) -> str:
        return sso.default_role.key if sso.default_role else "member"


class SsoInput(serializers.Serializer):
    enabled = serializers.BooleanField(default=True)
    protocol = serializers.CharField(default=WorkspaceSso.OIDC, max_length=10)
    issuer = serializers.CharField(default="", allow_blank=True, max_length=500)
    client_id = serializers.CharField(default="", allow_blank=True, max_length=255)
    client_secret = serializers.CharField(
        required=False, write_only=True, trim_whitespace=False, max_length=2000
    )
    domains = serializers.ListField(child=serializers.CharField(max_length=253))
    default_role = serializers.CharField(default="member", max_length=50)
    groups_claim = serializers.CharField(default="groups", allow_blank=True, max_length=100)
    group_teams = serializers.DictField(child=serializers.CharField(max_length=50), default=dict)
    scopes = serializers.CharField(default="openid profile email", max_length=255)
    show_button = serializers.BooleanField(default=False)
    idp_entity_id = serializers.CharField(default="", allow_blank=True, max_length=500)
    idp_sso_url = serializers.CharField(default="", allow_blank=True, max_length=500)
    idp_x509cert = serializers.CharField(default="", allow_blank=True, max_length=20000)
    idp_metadata_url = serializers.CharField(default="", allow_blank=True, max_length=500)
    email_attribute = serializers.CharField(default="email", allow_blank=True, max_length=255)
    first_name_attribute = serializers.CharField(default="", allow_blank=True, max_length=255)
    last_name_attribute = serializers.CharField(default="", allow_blank=True, max_length=255)


@workspace_scoped
class SsoViewSet(WorkspaceViewSet):
    serializer_class = SsoOutput
    queryset = WorkspaceSso.objects.none()
    required = {"retrieve": WORKSPACE_MANAGE, "update": WORKSPACE_MANAGE}

    def scoped_queryset(self, workspace):
        return WorkspaceSso.objects.for_workspace(workspace)

    def retrieve(self, request, *args, **kwargs):
        sso = sso_of(self.workspace)
        if sso is None:
            raise Http404("Single sign-on is not set up for this workspace.")
        return Response(SsoOutput(sso, context={"request": request}).data)

    @extend_schema(request=SsoInput, responses=SsoOutput)
    def update(self, request, *args, **kwargs):
        serializer = SsoInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        configure_sso(
            workspace=self.workspace,
            actor=request.user,
            acting_member=self.membership,
            enabled=data["enabled"],
            issuer=data["issuer"],
            client_id=data["client_id"],
            client_secret=data.get("client_secret"),
            domains=data["domains"],
            default_role_key=data["default_role"],
            groups_claim=data["groups_claim"],
            group_teams=data["group_teams"],
            scopes=data["scopes"],
            show_button=data["show_button"],
            protocol=data["protocol"],
            **{field: data[field] for field in SAML_FIELDS},
        )
        return Response(SsoOutput(sso_of(self.workspace), context={"request": request}).data)


sso_route = re_path(
    r"^workspaces/(?P<workspace>[^/.]+)/sso/$",
    SsoViewSet.as_view({"get": "retrieve", "put": "update"}),
    name="workspace-sso",
)

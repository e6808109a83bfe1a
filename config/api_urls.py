"""The management REST API, /api/v1/. Every resource lives under a workspace."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from audit.alerts.api import AlertViewSet
from audit.alerts.webhook_api import alert_webhook_routes
from audit.log.api import LogEntryViewSet
from audit.sinks.api import SinkViewSet
from gateways.api import AssignmentViewSet, GatewayViewSet, ReportViewSet
from identities.api import CredentialViewSet, TokenViewSet
from identities.connectors_api import ConnectorViewSet
from identities.inbound.client_api import ClientAppViewSet
from identities.inbound.oauth.enterprise_api import HeadlessClientViewSet, TrustedIdpViewSet
from identities.scim_api import scim_routes
from rules.api import RuleViewSet
from servers.api import ServerViewSet
from teams.api import (
    MemberViewSet,
    MyWorkspacesViewSet,
    RoleViewSet,
    TeamViewSet,
    WorkspaceDetailViewSet,
)
from teams.changes_api import ChangeViewSet
from teams.sso.api import sso_route
from teams.unknown_endpoint_api import UnknownEndpoint

WORKSPACE = r"workspaces/(?P<workspace>[^/.]+)"

router = SimpleRouter()
router.register(r"workspaces", MyWorkspacesViewSet, basename="my-workspace")
router.register(r"workspaces", WorkspaceDetailViewSet, basename="workspace")
router.register(rf"{WORKSPACE}/teams", TeamViewSet, basename="team")
router.register(rf"{WORKSPACE}/roles", RoleViewSet, basename="role")
router.register(rf"{WORKSPACE}/members", MemberViewSet, basename="member")
router.register(rf"{WORKSPACE}/servers", ServerViewSet, basename="server")
router.register(rf"{WORKSPACE}/gateways", GatewayViewSet, basename="gateway")
router.register(
    rf"{WORKSPACE}/gateways/(?P<gateway>[^/.]+)/assignments",
    AssignmentViewSet,
    basename="assignment",
)
router.register(
    rf"{WORKSPACE}/gateways/(?P<gateway>[^/.]+)/assignments/(?P<assignment>[^/.]+)/credentials",
    CredentialViewSet,
    basename="credential",
)
router.register(rf"{WORKSPACE}/tokens", TokenViewSet, basename="token")
router.register(rf"{WORKSPACE}/connectors", ConnectorViewSet, basename="connector")
router.register(rf"{WORKSPACE}/rules", RuleViewSet, basename="rule")
router.register(rf"{WORKSPACE}/changes", ChangeViewSet, basename="change")
router.register(rf"{WORKSPACE}/logs", LogEntryViewSet, basename="log")
router.register(rf"{WORKSPACE}/reports", ReportViewSet, basename="report")
router.register(rf"{WORKSPACE}/alerts", AlertViewSet, basename="alert")
router.register(rf"{WORKSPACE}/sinks", SinkViewSet, basename="sink")
router.register(rf"{WORKSPACE}/clients", ClientAppViewSet, basename="client-app")
router.register(rf"{WORKSPACE}/trusted-idps", TrustedIdpViewSet, basename="trusted-idp")
router.register(rf"{WORKSPACE}/headless-clients", HeadlessClientViewSet, basename="headless-client")

urlpatterns = [
    *router.urls,
    sso_route,
    *scim_routes,
    *alert_webhook_routes,
    # Last: what no route above matches is a JSON 404 (an id with a dot, a typo in a path).
    re_path(r"", UnknownEndpoint.as_view()),
]

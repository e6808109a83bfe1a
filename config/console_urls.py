"""The web console: the workspace list and profile, then every page under /w/<workspace>/."""

from django.urls import include, path

from apply import console as config_export
from audit.alerts import console as alerts
from audit.alerts import webhook_console as alert_webhook
from audit.log.views import (
    CallPage,
    ChangesPage,
    LogExportPage,
    LogsPage,
    ReportCsvPage,
    ReportsPage,
)
from audit.sinks import console as sinks
from gateways import console_approvals as approvals
from gateways import console_assignments as assignments
from gateways import console_views as gateways
from identities import connector_console, scim_console
from identities.inbound import client_console as clients
from identities.inbound import token_console as identities
from identities.inbound.oauth import enterprise_console
from identities.upstream import connection_console as connections
from rules import console_views as rules
from servers import console_views as servers
from teams import console_views as teams
from teams.sso import views

workspace_pages = [
    path("", gateways.DashboardPage.as_view(), name="dashboard"),
    path("gateways/", gateways.GatewaysPage.as_view(), name="gateways"),
    path("gateways/<slug:gw>/", gateways.GatewayPage.as_view(), name="gateway"),
    path("gateways/<slug:gw>/teams/", gateways.GatewayTeamsPage.as_view(), name="gateway-teams"),
    path("gateways/<slug:gw>/limits/", gateways.GatewayLimitsPage.as_view(), name="gateway-limits"),
    path("gateways/<slug:gw>/delete/", gateways.GatewayDeletePage.as_view(), name="gateway-delete"),
    path(
        "gateways/<slug:gw>/assignments/",
        gateways.AssignmentsPage.as_view(),
        name="assignments",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/",
        assignments.AssignmentPage.as_view(),
        name="assignment",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/tools/",
        assignments.CurationPage.as_view(),
        name="assignment-tools",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/approvals/",
        assignments.ApprovalSettingsPage.as_view(),
        name="assignment-approvals",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/refresh/",
        assignments.CatalogRefreshPage.as_view(),
        name="assignment-refresh",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/pins/approve/",
        assignments.PinApprovePage.as_view(),
        name="assignment-pin-approve",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/admissions/approve/",
        assignments.AdmissionApprovePage.as_view(),
        name="assignment-admit",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/remove/",
        assignments.AssignmentRemovePage.as_view(),
        name="assignment-remove",
    ),
    path("approvals/", approvals.ApprovalsPage.as_view(), name="approvals"),
    path("approvals/<int:pk>/", approvals.ApprovalPage.as_view(), name="approval"),
    path("servers/", servers.ServersPage.as_view(), name="servers"),
    path("servers/new/", servers.ServerNewPage.as_view(), name="server-new"),
    path("servers/<str:name>/", servers.ServerPage.as_view(), name="server"),
    path("servers/<str:name>/refresh/", servers.ServerRefreshPage.as_view(), name="server-refresh"),
    path("servers/<str:name>/probe/", servers.ServerProbePage.as_view(), name="server-probe"),
    path("servers/<str:name>/delete/", servers.ServerDeletePage.as_view(), name="server-delete"),
    path("people/", teams.MembersPage.as_view(), name="members"),
    path("people/<int:member_id>/", teams.MemberPage.as_view(), name="member"),
    path("people/<int:member_id>/remove/", teams.MemberRemovePage.as_view(), name="member-remove"),
    path("teams/", teams.TeamsPage.as_view(), name="teams"),
    path("teams/<slug:slug>/delete/", teams.TeamDeletePage.as_view(), name="team-delete"),
    path("settings/sso/", views.SsoPage.as_view(), name="sso-settings"),
    path("settings/scim/", scim_console.ScimPage.as_view(), name="scim-settings"),
    path(
        "settings/scim/tokens/<int:token_id>/revoke/",
        scim_console.ScimTokenRevokePage.as_view(),
        name="scim-token-revoke",
    ),
    path(
        "settings/trusted-idps/",
        enterprise_console.TrustedIdpsPage.as_view(),
        name="trusted-idps",
    ),
    path(
        "settings/trusted-idps/<int:idp_id>/remove/",
        enterprise_console.TrustedIdpRemovePage.as_view(),
        name="trusted-idp-remove",
    ),
    path(
        "headless-clients/",
        enterprise_console.HeadlessClientsPage.as_view(),
        name="headless-clients",
    ),
    path(
        "headless-clients/<int:client_id>/delete/",
        enterprise_console.HeadlessClientDeletePage.as_view(),
        name="headless-client-delete",
    ),
    path("export/", config_export.ConfigExportPage.as_view(), name="workspace-export"),
    path("roles/", teams.RolesPage.as_view(), name="roles"),
    path("roles/new/", teams.RoleNewPage.as_view(), name="role-new"),
    path("roles/<slug:key>/", teams.RolePage.as_view(), name="role"),
    path("roles/<slug:key>/duplicate/", teams.RoleDuplicatePage.as_view(), name="role-duplicate"),
    path("rules/", rules.RulesPage.as_view(), name="rules"),
    path("rules/new/", rules.RuleNewPage.as_view(), name="rule-new"),
    path("rules/new/try/", rules.RuleTryPage.as_view(), name="rule-new-try"),
    path("rules/defaults/", rules.RuleDefaultsPage.as_view(), name="rule-defaults"),
    path("rules/settings/", rules.RuleSettingsPage.as_view(), name="rule-settings"),
    path("rules/<int:pk>/", rules.RulePage.as_view(), name="rule"),
    path("rules/<int:pk>/try/", rules.RuleTryPage.as_view(), name="rule-try"),
    path("rules/<int:pk>/toggle/", rules.RuleTogglePage.as_view(), name="rule-toggle"),
    path("rules/<int:pk>/move/", rules.RuleMovePage.as_view(), name="rule-move"),
    path("rules/<int:pk>/delete/", rules.RuleDeletePage.as_view(), name="rule-delete"),
    path("tokens/", identities.TokensPage.as_view(), name="tokens"),
    path(
        "tokens/<int:token_id>/revoke/", identities.TokenRevokePage.as_view(), name="token-revoke"
    ),
    path("connectors/", connector_console.ConnectorsPage.as_view(), name="connectors"),
    path(
        "connectors/<int:connector_id>/revoke/",
        connector_console.ConnectorRevokePage.as_view(),
        name="connector-revoke",
    ),
    path("connections/", connections.ConnectionsPage.as_view(), name="connections"),
    path(
        "connections/callback/",
        connections.ConnectionCallbackPage.as_view(),
        name="connection-callback",
    ),
    path(
        "connections/<int:assignment_id>/connect/",
        connections.ConnectPage.as_view(),
        name="connection-connect",
    ),
    path(
        "connections/<int:assignment_id>/disconnect/",
        connections.DisconnectPage.as_view(),
        name="connection-disconnect",
    ),
    path(
        "connections/<int:assignment_id>/credential/",
        connections.ManualCredentialPage.as_view(),
        name="connection-credential",
    ),
    path(
        "connections/<int:assignment_id>/credential/remove/",
        connections.ManualCredentialRemovePage.as_view(),
        name="connection-credential-remove",
    ),
    path("changes/", ChangesPage.as_view(), name="changes"),
    path("logs/", LogsPage.as_view(), name="logs"),
    path("logs/export/", LogExportPage.as_view(), name="logs-export"),
    path("logs/calls/<str:correlation>/", CallPage.as_view(), name="log-call"),
    path("alerts/", alerts.AlertsPage.as_view(), name="alerts"),
    path(
        "alerts/<int:pk>/acknowledge/",
        alerts.AlertAcknowledgePage.as_view(),
        name="alert-acknowledge",
    ),
    path("alerts/webhook/", alert_webhook.AlertWebhookPage.as_view(), name="alert-webhook"),
    path(
        "alerts/webhook/test/",
        alert_webhook.AlertWebhookTestPage.as_view(),
        name="alert-webhook-test",
    ),
    path(
        "alerts/webhook/delete/",
        alert_webhook.AlertWebhookDeletePage.as_view(),
        name="alert-webhook-delete",
    ),
    path("sinks/", sinks.SinksPage.as_view(), name="sinks"),
    path("sinks/new/", sinks.SinkNewPage.as_view(), name="sink-new"),
    path("sinks/<int:pk>/", sinks.SinkPage.as_view(), name="sink"),
    path("sinks/<int:pk>/toggle/", sinks.SinkTogglePage.as_view(), name="sink-toggle"),
    path("sinks/<int:pk>/test/", sinks.SinkTestPage.as_view(), name="sink-test"),
    path("sinks/<int:pk>/delete/", sinks.SinkDeletePage.as_view(), name="sink-delete"),
    path("clients/", clients.ClientsPage.as_view(), name="clients"),
    path("clients/<int:app_id>/off/", clients.ClientOffPage.as_view(), name="client-off"),
    path("clients/<int:app_id>/on/", clients.ClientOnPage.as_view(), name="client-on"),
    path("reports/", ReportsPage.as_view(), name="reports"),
    path("reports/daily.csv", ReportCsvPage.as_view(), name="reports-csv"),
]

urlpatterns = [
    path("", teams.home, name="home"),
    path("profile/", teams.profile, name="profile"),
    path("w/<slug:ws>/", include(workspace_pages)),
]

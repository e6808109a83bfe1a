"""The web console: the workspace list and profile, then every page under /w/<workspace>/."""

from django.urls import include, path

from audit.console_views import ChangesPage
from gateways import console_assignments as assignments
from gateways import console_views as gateways
from identities import console_views as identities
from servers import console_views as servers
from teams import console_views as teams

workspace_pages = [
    path("", gateways.DashboardPage.as_view(), name="dashboard"),
    path("gateways/", gateways.GatewaysPage.as_view(), name="gateways"),
    path("gateways/<slug:gw>/", gateways.GatewayPage.as_view(), name="gateway"),
    path("gateways/<slug:gw>/teams/", gateways.GatewayTeamsPage.as_view(), name="gateway-teams"),
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
        "gateways/<slug:gw>/assignments/<int:pk>/refresh/",
        assignments.CatalogRefreshPage.as_view(),
        name="assignment-refresh",
    ),
    path(
        "gateways/<slug:gw>/assignments/<int:pk>/remove/",
        assignments.AssignmentRemovePage.as_view(),
        name="assignment-remove",
    ),
    path("servers/", servers.ServersPage.as_view(), name="servers"),
    path("servers/new/", servers.ServerNewPage.as_view(), name="server-new"),
    path("servers/<str:name>/", servers.ServerPage.as_view(), name="server"),
    path("servers/<str:name>/refresh/", servers.ServerRefreshPage.as_view(), name="server-refresh"),
    path("servers/<str:name>/delete/", servers.ServerDeletePage.as_view(), name="server-delete"),
    path("people/", teams.MembersPage.as_view(), name="members"),
    path("people/<int:member_id>/", teams.MemberPage.as_view(), name="member"),
    path("people/<int:member_id>/remove/", teams.MemberRemovePage.as_view(), name="member-remove"),
    path("teams/", teams.TeamsPage.as_view(), name="teams"),
    path("teams/<slug:slug>/delete/", teams.TeamDeletePage.as_view(), name="team-delete"),
    path("roles/", teams.RolesPage.as_view(), name="roles"),
    path("roles/new/", teams.RoleNewPage.as_view(), name="role-new"),
    path("roles/<slug:key>/", teams.RolePage.as_view(), name="role"),
    path("roles/<slug:key>/duplicate/", teams.RoleDuplicatePage.as_view(), name="role-duplicate"),
    path("tokens/", identities.TokensPage.as_view(), name="tokens"),
    path(
        "tokens/<int:token_id>/revoke/", identities.TokenRevokePage.as_view(), name="token-revoke"
    ),
    path("changes/", ChangesPage.as_view(), name="changes"),
]

urlpatterns = [
    path("", teams.home, name="home"),
    path("profile/", teams.profile, name="profile"),
    path("w/<slug:ws>/", include(workspace_pages)),
]

"""No console page lets a person see, change or even confirm another workspace's objects.

The table is checked against the console URLconf: every route with a workspace in its path
(`/w/<ws>/...`) must be named in ROUTES, with how to fill its other arguments from real acme
objects, and its view must be a `WorkspacePage`. Mallory owns globex and holds every capability
there; every acme page, read or posted to, is a 404 for her, the same as a workspace that does
not exist. Adding a page means adding a row to ROUTES.
"""

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from audit.alerts.raising import raise_alert
from audit.log.recorder import write_entries
from audit.models import Alert, AlertWebhook, LogEntry, LogSink
from gateways import services as gateway_services
from gateways.models import Assignment, Gateway, PendingApproval
from identities import services as identity_services
from identities.inbound.oauth import headless_clients
from identities.models import ApiToken, DisabledClient, HeadlessClient, TrustedIdp
from rules.models import Rule
from servers import services as server_services
from servers.models import Server
from teams import services as team_services
from teams.console_base import WorkspacePage
from teams.models import Membership, Role, Team, User
from tests.support.audit_entries import call_hops
from tests.support.connector_rows import connector_of
from tests.support.oauth_apps import oauth_app

# Route name -> the URL arguments besides `ws`, as placeholders of the objects below.
# `assignment_gateway` is the gateway the assignment is looked up under: acme's `dev` here,
# globex's own gateway when acme's ids are tried under globex's URLs.
ROUTES = {
    "dashboard": {},
    "gateways": {},
    "gateway": {"gw": "{gateway}"},
    "gateway-teams": {"gw": "{gateway}"},
    "gateway-limits": {"gw": "{gateway}"},
    "gateway-delete": {"gw": "{gateway}"},
    "assignments": {"gw": "{gateway}"},
    "assignment": {"gw": "{assignment_gateway}", "pk": "{assignment}"},
    "assignment-tools": {"gw": "{assignment_gateway}", "pk": "{assignment}"},
    "assignment-refresh": {"gw": "{assignment_gateway}", "pk": "{assignment}"},
    "assignment-approvals": {"gw": "{assignment_gateway}", "pk": "{assignment}"},
    "assignment-pin-approve": {"gw": "{assignment_gateway}", "pk": "{assignment}"},
    "assignment-admit": {"gw": "{assignment_gateway}", "pk": "{assignment}"},
    "assignment-remove": {"gw": "{assignment_gateway}", "pk": "{assignment}"},
    "servers": {},
    "server-new": {},
    "server": {"name": "{server}"},
    "server-refresh": {"name": "{server}"},
    "server-probe": {"name": "{server}"},
    "server-delete": {"name": "{server}"},
    "members": {},
    "member": {"member_id": "{member}"},
    "member-remove": {"member_id": "{member}"},
    "teams": {},
    "team-delete": {"slug": "{team}"},
    "sso-settings": {},
    "scim-settings": {},
    "workspace-export": {},
    "scim-token-revoke": {"token_id": "{scim_token}"},
    "trusted-idps": {},
    "trusted-idp-remove": {"idp_id": "{trusted_idp}"},
    "headless-clients": {},
    "headless-client-delete": {"client_id": "{headless}"},
    "roles": {},
    "role-new": {},
    "role": {"key": "{role}"},
    "role-duplicate": {"key": "{role}"},
    "rules": {},
    "rule-new": {},
    "rule-new-try": {},
    "rule-defaults": {},
    "rule-settings": {},
    "rule": {"pk": "{rule}"},
    "rule-try": {"pk": "{rule}"},
    "rule-toggle": {"pk": "{rule}"},
    "rule-move": {"pk": "{rule}"},
    "rule-delete": {"pk": "{rule}"},
    "tokens": {},
    "token-revoke": {"token_id": "{token}"},
    "connectors": {},
    "connector-revoke": {"connector_id": "{connector}"},
    "connections": {},
    "connection-callback": {},
    "connection-connect": {"assignment_id": "{oauth_assignment}"},
    "connection-disconnect": {"assignment_id": "{oauth_assignment}"},
    "connection-credential": {"assignment_id": "{manual_assignment}"},
    "connection-credential-remove": {"assignment_id": "{manual_assignment}"},
    "changes": {},
    "logs": {},
    "logs-export": {},
    "log-call": {"correlation": "{correlation}"},
    "alerts": {},
    "alert-acknowledge": {"pk": "{alert}"},
    "alert-webhook": {},
    "alert-webhook-test": {},
    "alert-webhook-delete": {},
    "sinks": {},
    "sink-new": {},
    "sink": {"pk": "{sink}"},
    "sink-toggle": {"pk": "{sink}"},
    "sink-test": {"pk": "{sink}"},
    "sink-delete": {"pk": "{sink}"},
    "clients": {},
    "client-off": {"app_id": "{client}"},
    "client-on": {"app_id": "{client}"},
    "reports": {},
    "reports-csv": {},
    "approvals": {},
    "approval": {"pk": "{approval}"},
}

# What a page needs in its query string to show itself rather than a form error.
QUERIES = {"assignment-pin-approve": "?tool=now", "assignment-admit": "?tool=now"}

ROUTES_WITH_OBJECTS = sorted(name for name, kwargs in ROUTES.items() if kwargs)


def workspace_routes(patterns=None, prefix_groups=frozenset()):
    """(name, view) of every route of the URLconf whose path holds the workspace (`ws`)."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        groups = prefix_groups | set(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            found += workspace_routes(entry.url_patterns, groups)
        elif isinstance(entry, URLPattern) and "ws" in groups:
            found.append((entry.name, entry.callback))
    return found


def url_of(name: str, workspace: str, objects: dict) -> str:
    kwargs = {key: value.format(**objects) for key, value in ROUTES[name].items()}
    return reverse(name, kwargs={"ws": workspace, **kwargs}) + QUERIES.get(name, "")


def handles(name: str, method: str) -> bool:
    view_class = resolve(reverse(name, kwargs={"ws": "acme", **_any_kwargs(name)})).func.view_class
    return method in view_class.http_method_names and hasattr(view_class, method)


def _any_kwargs(name: str) -> dict:
    # Digits fit every converter the routes use (int, slug, str).
    return {key: "1" for key in ROUTES[name]}


def _assignment(gateway, alice, name: str, scheme: str) -> int:
    server = server_services.create_server(
        workspace=gateway.workspace, name=name, url=f"http://127.0.0.1:9001/{name}", actor=alice
    )
    assignment = gateway_services.assign_server(
        gateway=gateway, server=server, namespace=name, actor=alice
    )
    gateway_services.update_assignment(assignment=assignment, identity_scheme=scheme, actor=alice)
    return assignment.pk


@pytest.fixture
def acme_objects(acme, alice, bob, acme_gateway):
    """acme's objects every route names, reachable by bob (a plain member of team eng)."""
    team_services.create_role(
        workspace=acme,
        key="reviewer",
        name="Reviewer",
        capabilities=[],
        actor=alice,
        acting_member=None,
    )
    write_entries(call_hops(acme))
    bob_membership = Membership.objects.get(workspace=acme, user=bob)
    return {
        "gateway": acme_gateway.slug,
        "assignment_gateway": acme_gateway.slug,
        "assignment": acme_gateway.assignments.get(namespace="time").pk,
        "oauth_assignment": _assignment(acme_gateway, alice, "calendar", "user_oauth"),
        "manual_assignment": _assignment(acme_gateway, alice, "tickets", "manual"),
        "server": "time",
        "member": bob_membership.pk,
        "team": "eng",
        "role": "reviewer",
        "rule": Rule.objects.create(
            workspace=acme, name="keep", detector="secrets", action="redact"
        ).pk,
        "token": identity_services.issue_token(
            membership=bob_membership, name="laptop", actor=bob
        ).token.pk,
        "connector": connector_of(acme, bob).pk,
        "correlation": LogEntry.objects.for_workspace(acme).first().correlation_id,
        "alert": raise_alert(
            workspace_id=acme.pk,
            kind=Alert.Kind.AUTH,
            subject="x",
            title="x",
            gateway_id=acme_gateway.pk,
        ).pk,
        "sink": LogSink.objects.create(
            workspace=acme, name="siem", kind="webhook", endpoint="https://siem.example.com/h"
        ).pk,
        "alert_webhook": AlertWebhook.objects.create(
            workspace=acme, endpoint="https://alerts.example.com/h"
        ).pk,
        "client": oauth_app(bob).pk,
        "scim_token": identity_services.issue_scim_token(
            membership=Membership.objects.get(workspace=acme, user=alice), name="Okta", actor=alice
        ).token.pk,
        "trusted_idp": TrustedIdp.objects.create(
            workspace=acme, issuer="https://idp.acme.example", jwks_url="https://idp.acme.example/k"
        ).pk,
        "headless": headless_clients.register_headless_client(
            workspace=acme, membership=bob_membership, name="Nightly agent", actor=alice
        )[0].pk,
        "approval": _pending_approval(acme, alice, bob, acme_gateway),
    }


def _pending_approval(acme, alice, bob, gateway) -> int:
    """A call of carol's that team `approvers` (alice and bob) may decide."""
    team = team_services.create_team(
        workspace=acme, slug="approvers", name="Approvers", actor=alice
    )
    for person in (alice, bob):
        Membership.objects.get(workspace=acme, user=person).teams.add(team)
    return PendingApproval.objects.create(
        workspace=acme,
        gateway=gateway,
        assignment=gateway.assignments.get(namespace="time"),
        tool="time__now",
        requested_by=User.objects.get(email="carol@acme.test"),
        approver_team=team,
        expires_at=timezone.now() + timedelta(minutes=5),
    ).pk


def _acme_unchanged(acme, objects):
    acme.refresh_from_db()
    assert acme.name == "Acme"
    assert Gateway.objects.for_workspace(acme).filter(slug="dev", name="Developer tools").exists()
    assert Assignment.objects.for_workspace(acme).count() == 3
    assert Server.objects.for_workspace(acme).count() == 3
    assert Membership.objects.get(pk=objects["member"]).role.key == "member"
    assert not Membership.objects.filter(workspace=acme, user__email="mallory@globex.test")
    assert Team.objects.for_workspace(acme).filter(slug="eng").exists()
    assert Role.objects.for_workspace(acme).filter(key="reviewer", name="Reviewer").exists()
    assert Rule.objects.for_workspace(acme).get().enabled
    assert ApiToken.objects.get(pk=objects["token"]).revoked_at is None
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
    assert Alert.objects.get(pk=objects["alert"]).acknowledged_at is None
    assert LogSink.objects.get(pk=objects["sink"]).enabled
    assert AlertWebhook.objects.filter(pk=objects["alert_webhook"]).exists()
    assert not DisabledClient.objects.exists()
    assert TrustedIdp.objects.filter(pk=objects["trusted_idp"]).exists()
    assert TrustedIdp.objects.count() == 1
    assert HeadlessClient.objects.filter(pk=objects["headless"]).exists()
    assert HeadlessClient.objects.count() == 1
    assert PendingApproval.objects.get(pk=objects["approval"]).status == "pending"


def test_every_workspace_route_is_in_the_table():
    names = [name for name, _ in workspace_routes()]
    assert None not in names, "every workspace route needs a name to be in the table"
    assert len(names) == len(set(names))
    assert set(names) == set(ROUTES)


def test_every_workspace_route_is_a_workspace_page():
    for name, view in workspace_routes():
        view_class = getattr(view, "view_class", None)
        assert view_class is not None and issubclass(view_class, WorkspacePage), name


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_it_hides_other_workspaces(as_, acme, acme_objects, globex, mallory, name):
    client = as_(mallory)
    url = url_of(name, "acme", acme_objects)
    assert client.get(url).status_code == 404
    if handles(name, "post"):
        assert client.post(url, {}).status_code == 404
    _acme_unchanged(acme, acme_objects)


@pytest.mark.parametrize("name", ROUTES_WITH_OBJECTS)
def test_acme_objects_under_globex_urls_are_missing(
    as_, acme, acme_objects, globex_gateway, mallory, name
):
    # Mallory passes the workspace check of globex: the lookup itself must miss acme's rows.
    client = as_(mallory)
    url = url_of(name, "globex", {**acme_objects, "assignment_gateway": globex_gateway.slug})
    for method in ("get", "post"):
        if handles(name, method):
            assert getattr(client, method)(url, {}).status_code == 404, method
    _acme_unchanged(acme, acme_objects)


PAGES = sorted(name for name in ROUTES if handles(name, "get"))


@pytest.mark.parametrize("name", PAGES)
def test_a_member_reaches_every_page(as_, acme, acme_objects, bob, name):
    # Without this, a 404 for everyone would pass the tests above.
    assert as_(bob).get(url_of(name, "acme", acme_objects)).status_code != 404


@pytest.mark.parametrize("name", PAGES)
def test_the_owner_opens_every_page_of_the_table(as_, acme, acme_objects, alice, name):
    # The identifiers in the table name real objects: the owner gets the page, or a redirect.
    assert as_(alice).get(url_of(name, "acme", acme_objects)).status_code in (200, 302)


def test_a_page_cannot_take_over_workspace_resolution():
    for name in ("dispatch", "as_view"):
        with pytest.raises(TypeError, match=f"must not override {name}"):
            type("Sneaky", (WorkspacePage,), {name: lambda *args, **kwargs: None})

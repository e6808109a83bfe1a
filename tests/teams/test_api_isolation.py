"""No endpoint lets a person act on, or even confirm, another workspace's objects.

Mallory owns globex and holds every capability there; in acme she is nobody. Every acme URL,
whatever the method, is a 404 for her: never a 403, never data. Adding an endpoint means adding
a row to ACME_URLS.
"""

import re

import pytest
from django.test import Client

from audit.models import Alert, AlertWebhook
from gateways.models import Assignment, Gateway
from identities.models import (
    ApiToken,
    DisabledClient,
    HeadlessClient,
    TrustedIdp,
    UpstreamCredential,
)
from rules.models import Rule
from teams import services as team_services
from teams.models import Membership, User
from tests.support.api import bearer

W = "/api/v1/workspaces/acme"
# A tool as an approval names it: with the digest of the definition reviewed.
NOW = {"name": "now", "digest": "sha256:" + "0" * 64}
# The same answer as for a workspace that does not exist at all.
NOT_FOUND = {
    "type": "client_error",
    "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
}

# (method, url, body). Placeholders are filled from the acme objects below.
ACME_URLS = [
    ("get", f"{W}/", None),
    ("patch", f"{W}/", {"name": "Pwned"}),
    ("get", f"{W}/teams/", None),
    ("post", f"{W}/teams/", {"slug": "evil", "name": "Evil"}),
    ("get", f"{W}/teams/eng/", None),
    ("patch", f"{W}/teams/eng/", {"name": "Evil"}),
    ("put", f"{W}/teams/eng/", {"name": "Evil"}),
    ("delete", f"{W}/teams/eng/", None),
    ("get", f"{W}/roles/", None),
    ("post", f"{W}/roles/", {"key": "evil", "name": "Evil", "capabilities": []}),
    ("get", f"{W}/roles/capabilities/", None),
    ("get", f"{W}/roles/reviewer/", None),
    ("patch", f"{W}/roles/reviewer/", {"name": "Evil"}),
    ("delete", f"{W}/roles/reviewer/", None),
    ("post", f"{W}/roles/reviewer/duplicate/", {"key": "evil", "name": "Evil"}),
    ("get", f"{W}/members/", None),
    ("post", f"{W}/members/", {"email": "mallory@globex.test", "role": "owner"}),
    ("get", f"{W}/members/{{member}}/", None),
    ("patch", f"{W}/members/{{member}}/", {"role": "owner"}),
    ("delete", f"{W}/members/{{member}}/", None),
    ("get", f"{W}/servers/", None),
    ("post", f"{W}/servers/", {"name": "evil", "url": "http://evil.test/mcp"}),
    ("get", f"{W}/servers/time/", None),
    ("patch", f"{W}/servers/time/", {"url": "http://evil.test/mcp"}),
    ("delete", f"{W}/servers/time/", None),
    ("post", f"{W}/servers/time/probe/", None),
    ("get", f"{W}/gateways/", None),
    ("post", f"{W}/gateways/", {"slug": "evil", "name": "Evil"}),
    ("get", f"{W}/gateways/dev/", None),
    ("patch", f"{W}/gateways/dev/", {"name": "Evil"}),
    ("delete", f"{W}/gateways/dev/", None),
    ("put", f"{W}/gateways/dev/teams/", {"teams": []}),
    ("get", f"{W}/gateways/dev/assignments/", None),
    ("post", f"{W}/gateways/dev/assignments/", {"server": "time", "namespace": "evil"}),
    ("get", f"{W}/gateways/dev/assignments/{{assignment}}/", None),
    ("patch", f"{W}/gateways/dev/assignments/{{assignment}}/", {"tool_mode": "none"}),
    ("delete", f"{W}/gateways/dev/assignments/{{assignment}}/", None),
    ("post", f"{W}/gateways/dev/assignments/{{assignment}}/pins/", {"tools": ["now"]}),
    ("post", f"{W}/gateways/dev/assignments/{{assignment}}/pins/approve/", {"tools": [NOW]}),
    (
        "post",
        f"{W}/gateways/dev/assignments/{{assignment}}/admissions/approve/",
        {"tools": [NOW]},
    ),
    ("get", f"{W}/gateways/dev/assignments/{{assignment}}/credentials/", None),
    (
        "post",
        f"{W}/gateways/dev/assignments/{{assignment}}/credentials/",
        {"shared": True, "kind": "bearer", "token": "evil"},
    ),
    ("get", f"{W}/gateways/dev/assignments/{{assignment}}/credentials/{{credential}}/", None),
    ("delete", f"{W}/gateways/dev/assignments/{{assignment}}/credentials/{{credential}}/", None),
    (
        "post",
        f"{W}/gateways/dev/assignments/{{assignment}}/credentials/{{credential}}/disable/",
        None,
    ),
    (
        "post",
        f"{W}/gateways/dev/assignments/{{assignment}}/credentials/{{credential}}/enable/",
        None,
    ),
    ("get", f"{W}/tokens/", None),
    ("post", f"{W}/tokens/", {"name": "evil"}),
    ("get", f"{W}/tokens/{{token}}/", None),
    ("post", f"{W}/tokens/{{token}}/revoke/", None),
    ("get", f"{W}/connectors/", None),
    ("get", f"{W}/connectors/?server=files&live=1", None),
    ("get", f"{W}/connectors/{{connector}}/", None),
    ("post", f"{W}/connectors/{{connector}}/revoke/", None),
    ("get", f"{W}/rules/", None),
    ("post", f"{W}/rules/", {"name": "evil", "detector": "secrets", "action": "flag"}),
    ("get", f"{W}/rules/{{rule}}/", None),
    ("patch", f"{W}/rules/{{rule}}/", {"enabled": False}),
    ("delete", f"{W}/rules/{{rule}}/", None),
    ("get", f"{W}/rules/detectors/", None),
    ("post", f"{W}/rules/defaults/", None),
    ("post", f"{W}/rules/reorder/", {"rules": []}),
    ("post", f"{W}/rules/preview/", {"rule": {"name": "t", "detector": "secrets"}, "sample": {}}),
    ("get", f"{W}/clients/", None),
    ("get", f"{W}/clients/{{client}}/", None),
    ("post", f"{W}/clients/{{client}}/disable/", {}),
    ("post", f"{W}/clients/{{client}}/enable/", {}),
    ("get", f"{W}/trusted-idps/", None),
    ("post", f"{W}/trusted-idps/", {"issuer": "https://evil.test", "jwks_url": "https://e.test/k"}),
    ("get", f"{W}/trusted-idps/{{trusted_idp}}/", None),
    ("patch", f"{W}/trusted-idps/{{trusted_idp}}/", {"enabled": False}),
    ("delete", f"{W}/trusted-idps/{{trusted_idp}}/", None),
    ("get", f"{W}/headless-clients/", None),
    ("post", f"{W}/headless-clients/", {"name": "evil", "member": "bob@acme.test"}),
    ("get", f"{W}/headless-clients/{{headless}}/", None),
    ("delete", f"{W}/headless-clients/{{headless}}/", None),
    ("get", f"{W}/alerts/", None),
    ("get", f"{W}/alerts/{{alert}}/", None),
    ("post", f"{W}/alerts/{{alert}}/acknowledge/", None),
    ("get", f"{W}/sso/", None),
    (
        "put",
        f"{W}/sso/",
        {"issuer": "https://evil.test", "client_id": "x", "domains": ["evil.test"]},
    ),
    ("get", f"{W}/scim/", None),
    ("put", f"{W}/scim/", {"default_role": "owner", "group_teams": {}}),
    ("post", f"{W}/scim/tokens/", {"name": "evil"}),
    ("delete", f"{W}/scim/tokens/{{scim_token}}/", None),
    ("get", f"{W}/changes/", None),
    ("get", f"{W}/changes/export/?format=jsonl", None),
    ("get", f"{W}/reports/summary/", None),
    ("get", f"{W}/logs/", None),
    ("get", f"{W}/logs/{{log}}/", None),
    ("get", f"{W}/logs/calls/{{correlation}}/", None),
    ("get", f"{W}/logs/export/?format=jsonl", None),
    ("get", f"{W}/sinks/", None),
    ("post", f"{W}/sinks/", {"name": "evil", "kind": "webhook", "endpoint": "https://e.test/"}),
    ("get", f"{W}/sinks/{{sink}}/", None),
    ("patch", f"{W}/sinks/{{sink}}/", {"endpoint": "https://evil.test/"}),
    ("delete", f"{W}/sinks/{{sink}}/", None),
    ("post", f"{W}/sinks/{{sink}}/test/", None),
    ("get", f"{W}/alert-webhook/", None),
    ("put", f"{W}/alert-webhook/", {"endpoint": "https://evil.test/"}),
    ("delete", f"{W}/alert-webhook/", None),
    ("post", f"{W}/alert-webhook/test/", None),
]


def _request(client, method, url, body, **extra):
    return getattr(client, method)(url, body, format="json", **extra)


def _acme_unchanged(acme):
    acme.refresh_from_db()
    assert acme.name == "Acme"
    assert Gateway.objects.for_workspace(acme).filter(slug="dev", name="Developer tools").exists()
    assert not Membership.objects.filter(workspace=acme, user__email="mallory@globex.test")
    assert Rule.objects.for_workspace(acme).filter(name="keep", enabled=True).exists()
    assert not Alert.objects.filter(acknowledged_at__isnull=False).exists()
    assert not DisabledClient.objects.exists()
    assert not Rule.objects.filter(name="evil").exists()
    assert UpstreamCredential.objects.filter(disabled_at__isnull=True).count() == 1
    assert AlertWebhook.objects.filter(endpoint="https://alerts.example.com/h").exists()
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
    assert TrustedIdp.objects.for_workspace(acme).filter(enabled=True).count() == 1
    assert HeadlessClient.objects.for_workspace(acme).count() == 1


@pytest.mark.parametrize(("method", "url", "body"), ACME_URLS)
def test_it_hides_other_workspaces(api, acme, acme_objects, mallory, globex, method, url, body):
    response = _request(api.as_(mallory), method, url.format(**acme_objects), body)
    assert response.status_code == 404, response.content
    assert response.json() == NOT_FOUND
    _acme_unchanged(acme)


@pytest.mark.parametrize(("method", "url", "body"), ACME_URLS)
def test_it_hides_other_workspaces_from_tokens(
    api, acme, acme_objects, mallory, globex, api_token_for, method, url, body
):
    secret = api_token_for(globex, mallory)
    response = _request(api, method, url.format(**acme_objects), body, **bearer(secret))
    assert response.status_code == 404, response.content
    assert response.json() == NOT_FOUND
    _acme_unchanged(acme)


def test_every_endpoint_is_in_the_table():
    from config.api_urls import urlpatterns

    routes = {str(p.pattern) for p in urlpatterns} - {"^workspaces/$"}
    covered = set()
    for route in routes:
        regex = route.replace("(?P<workspace>[^/.]+)", "acme")
        pattern = re.compile(regex)
        urls = [re.sub(r"\{\w+\}", "1", url.split("?")[0]) for _, url, _ in ACME_URLS]
        if any(pattern.match(url[len("/api/v1/") :]) for url in urls):
            covered.add(route)
    assert covered == routes


GLOBEX_URLS_WITH_ACME_IDS = [
    ("get", "/api/v1/workspaces/globex/teams/eng/"),
    ("get", "/api/v1/workspaces/globex/roles/reviewer/"),
    ("get", "/api/v1/workspaces/globex/members/{member}/"),
    ("patch", "/api/v1/workspaces/globex/members/{member}/"),
    ("delete", "/api/v1/workspaces/globex/members/{member}/"),
    ("get", "/api/v1/workspaces/globex/servers/time/"),
    ("delete", "/api/v1/workspaces/globex/servers/time/"),
    ("get", "/api/v1/workspaces/globex/gateways/dev/"),
    ("put", "/api/v1/workspaces/globex/gateways/dev/teams/"),
    ("get", "/api/v1/workspaces/globex/gateways/dev/assignments/"),
    ("get", "/api/v1/workspaces/globex/gateways/prod/assignments/{assignment}/"),
    ("patch", "/api/v1/workspaces/globex/gateways/prod/assignments/{assignment}/"),
    ("delete", "/api/v1/workspaces/globex/gateways/prod/assignments/{assignment}/"),
    ("get", "/api/v1/workspaces/globex/gateways/prod/assignments/{assignment}/credentials/"),
    (
        "delete",
        "/api/v1/workspaces/globex/gateways/prod/assignments/{assignment}/credentials/{credential}/",
    ),
    ("get", "/api/v1/workspaces/globex/tokens/{token}/"),
    ("post", "/api/v1/workspaces/globex/tokens/{token}/revoke/"),
    ("get", "/api/v1/workspaces/globex/connectors/{connector}/"),
    ("post", "/api/v1/workspaces/globex/connectors/{connector}/revoke/"),
    ("get", "/api/v1/workspaces/globex/trusted-idps/{trusted_idp}/"),
    ("patch", "/api/v1/workspaces/globex/trusted-idps/{trusted_idp}/"),
    ("delete", "/api/v1/workspaces/globex/trusted-idps/{trusted_idp}/"),
    ("get", "/api/v1/workspaces/globex/headless-clients/{headless}/"),
    ("delete", "/api/v1/workspaces/globex/headless-clients/{headless}/"),
]


@pytest.mark.parametrize(("method", "url"), GLOBEX_URLS_WITH_ACME_IDS)
def test_acme_ids_under_globex_urls_are_missing(
    api, acme, acme_objects, mallory, globex_gateway, method, url
):
    response = _request(api.as_(mallory), method, url.format(**acme_objects), {})
    assert response.status_code == 404, response.content
    assert Membership.objects.filter(pk=acme_objects["member"]).exists()
    assert Assignment.objects.filter(pk=acme_objects["assignment"]).exists()
    assert ApiToken.objects.get(pk=acme_objects["token"]).revoked_at is None
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
    assert TrustedIdp.objects.filter(pk=acme_objects["trusted_idp"], enabled=True).exists()
    assert HeadlessClient.objects.filter(pk=acme_objects["headless"]).exists()


def test_a_token_of_one_workspace_is_a_404_on_another(
    api, acme, globex, alice, mallory, api_token_for
):
    erin = User.objects.create_user(email="erin@both.test")
    team_services.add_member(
        workspace=acme, user=erin, role_key="admin", actor=alice, acting_member=None
    )
    team_services.add_member(
        workspace=globex, user=erin, role_key="admin", actor=mallory, acting_member=None
    )
    secret = api_token_for(globex, erin)

    assert api.get(f"{W}/gateways/", **bearer(secret)).status_code == 404
    assert api.get("/api/v1/workspaces/globex/gateways/", **bearer(secret)).status_code == 200
    listed = api.get("/api/v1/workspaces/", **bearer(secret)).json()["results"]
    assert [w["slug"] for w in listed] == ["globex"]
    # Signed in by session, the same person sees both.
    listed = api.as_(erin).get("/api/v1/workspaces/").json()["results"]
    assert [w["slug"] for w in listed] == ["acme", "globex"]


def test_the_workspace_list_shows_only_the_callers(api, acme, globex, mallory):
    listed = api.as_(mallory).get("/api/v1/workspaces/").json()
    assert listed["count"] == 1
    assert listed["results"] == [{"slug": "globex", "name": "Globex", "role": "owner"}]


def test_anonymous_callers_are_refused(acme, acme_gateway):
    response = Client().get(f"{W}/gateways/")
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]

"""Each capability of the catalogue that has a feature is enforced by the API.

Dave (a member of team eng, so gateway `dev` is his) gets a custom role holding exactly the
capability under test, then a role holding every capability but that one.
"""

import pytest

from audit.alerts import raising
from gateways import services as gateway_services
from identities.models import ApiToken, DisabledClient
from servers import services as server_services
from teams.capabilities import (
    ALERTS_VIEW_ALL,
    ALL_KEYS,
    CLIENTS_MANAGE_TOKENS,
    CLIENTS_TOGGLE,
    GATEWAYS_MANAGE,
    GATEWAYS_PROVISION_FEATURES,
    GATEWAYS_PROVISION_TEAMS,
    GATEWAYS_USE_ALL,
    IDENTITIES_MANAGE,
    IDENTITIES_VIEW_ALL,
    INTEGRATIONS_MANAGE,
    LOGS_EXPORT,
    LOGS_VIEW,
    LOGS_VIEW_PAYLOADS,
    PEOPLE_MANAGE,
    REPORTS_VIEW,
    RULES_MANAGE,
    SERVERS_DEPLOY_MANAGED,
    SERVERS_DEPLOY_WORKSTATION,
    SERVERS_MANAGE,
    SERVERS_VIEW_ALL,
    WORKSPACE_MANAGE,
)
from teams.models import Membership
from tests.support.api import error, refused_capability

W = "/api/v1/workspaces/acme"
NO_FEATURE_YET: set[str] = set()

# (capability, method, url, body, status when allowed)
GATED_ACTIONS = [
    (GATEWAYS_MANAGE, "patch", f"{W}/gateways/dev/", {"name": "Dev"}, 200),
    (
        GATEWAYS_PROVISION_FEATURES,
        "patch",
        f"{W}/gateways/dev/assignments/{{assignment}}/",
        {"tool_mode": "read_only"},
        200,
    ),
    (GATEWAYS_PROVISION_TEAMS, "put", f"{W}/gateways/dev/teams/", {"teams": ["eng"]}, 200),
    (SERVERS_MANAGE, "post", f"{W}/servers/", {"name": "wiki", "url": "https://w.test/mcp"}, 201),
    (
        SERVERS_DEPLOY_MANAGED,
        "post",
        f"{W}/servers/",
        {"name": "fs", "kind": "managed", "command": "mcp-fs"},
        201,
    ),
    (
        SERVERS_DEPLOY_WORKSTATION,
        "post",
        f"{W}/servers/",
        {"name": "ide", "kind": "workstation", "command": "mcp-ide"},
        201,
    ),
    (CLIENTS_MANAGE_TOKENS, "post", f"{W}/tokens/", {"name": "ci", "user": "bob@acme.test"}, 201),
    (PEOPLE_MANAGE, "post", f"{W}/teams/", {"slug": "ops", "name": "Operations"}, 201),
    (WORKSPACE_MANAGE, "patch", f"{W}/", {"name": "Acme Inc"}, 200),
    (LOGS_VIEW, "get", f"{W}/changes/", None, 200),
    (LOGS_EXPORT, "get", f"{W}/changes/export/?format=csv", None, 200),
    (REPORTS_VIEW, "get", f"{W}/reports/summary/", None, 200),
    (
        RULES_MANAGE,
        "post",
        f"{W}/rules/",
        {"name": "pii", "detector": "pii", "action": "redact"},
        201,
    ),
]
WEBHOOK_RULE = {
    "name": "engine",
    "detector": "webhook",
    "action": "block",
    "detector_config": {"url": "https://decide.example.test/mcp", "fail": "closed"},
}
# Capabilities that widen what a member sees rather than gate an action: tested below.
VISIBILITY = {
    GATEWAYS_USE_ALL,
    SERVERS_VIEW_ALL,
    LOGS_VIEW_PAYLOADS,
    ALERTS_VIEW_ALL,
    IDENTITIES_VIEW_ALL,
}


def _call(client, method, url, body):
    return getattr(client, method)(url, body, format="json")


def test_every_capability_with_a_feature_is_covered():
    covered = {row[0] for row in GATED_ACTIONS} | VISIBILITY
    covered |= {INTEGRATIONS_MANAGE, CLIENTS_TOGGLE, IDENTITIES_MANAGE}
    assert covered == ALL_KEYS - NO_FEATURE_YET


@pytest.mark.parametrize(("capabilities", "status"), [({CLIENTS_TOGGLE}, 200), (set(), 403)])
def test_switching_a_client_app_needs_clients_toggle(
    api_as_dave_with, acme, client_app, capabilities, status
):
    url = f"{W}/clients/{client_app.pk}/disable/"
    response = _call(api_as_dave_with(capabilities), "post", url, {})
    assert response.status_code == status, response.content
    assert DisabledClient.objects.filter(application=client_app).exists() == (status == 200)


def test_an_external_rule_engine_needs_integrations_manage(api_as_dave_with):
    refused = _call(api_as_dave_with({RULES_MANAGE}), "post", f"{W}/rules/", WEBHOOK_RULE)
    assert refused.status_code == 403, refused.content
    assert refused_capability(refused) == INTEGRATIONS_MANAGE
    both = api_as_dave_with({RULES_MANAGE, INTEGRATIONS_MANAGE})
    created = _call(both, "post", f"{W}/rules/", WEBHOOK_RULE)
    assert created.status_code == 201, created.content
    rule_url = f"{W}/rules/{created.json()['id']}/"
    rules_only = api_as_dave_with({RULES_MANAGE})
    assert _call(rules_only, "patch", rule_url, {"enabled": False}).status_code == 403
    assert _call(rules_only, "delete", rule_url, None).status_code == 403
    # Dave's role is the last one given: hold both again.
    both = api_as_dave_with({RULES_MANAGE, INTEGRATIONS_MANAGE})
    assert _call(both, "delete", rule_url, None).status_code == 204


@pytest.mark.parametrize(
    ("capability", "method", "url", "body", "ok"), GATED_ACTIONS, ids=[r[0] for r in GATED_ACTIONS]
)
def test_it_allows_the_action_with_the_capability(
    api_as_dave_with, acme_gateway, capability, method, url, body, ok
):
    url = url.format(assignment=acme_gateway.assignments.get().pk)
    response = _call(api_as_dave_with({capability}), method, url, body)
    assert response.status_code == ok, response.content


@pytest.mark.parametrize(
    ("capability", "method", "url", "body", "ok"), GATED_ACTIONS, ids=[r[0] for r in GATED_ACTIONS]
)
def test_it_requires_the_capability(
    api_as_dave_with, acme_gateway, capability, method, url, body, ok
):
    url = url.format(assignment=acme_gateway.assignments.get().pk)
    response = _call(api_as_dave_with(ALL_KEYS - {capability}), method, url, body)
    assert response.status_code == 403, response.content
    assert refused_capability(response) == capability
    assert capability in error(response)["detail"]


@pytest.mark.parametrize(
    ("capabilities", "missing"),
    [
        ({GATEWAYS_MANAGE}, GATEWAYS_PROVISION_FEATURES),
        ({GATEWAYS_PROVISION_FEATURES}, GATEWAYS_MANAGE),
        ({GATEWAYS_MANAGE, GATEWAYS_PROVISION_FEATURES}, None),
    ],
)
def test_a_patch_touching_both_kinds_of_fields_needs_both(
    api_as_dave_with, acme_gateway, capabilities, missing
):
    assignment = acme_gateway.assignments.get()
    url = f"{W}/gateways/dev/assignments/{assignment.pk}/"
    body = {"namespace": "clock", "prompts_enabled": False}
    response = api_as_dave_with(capabilities).patch(url, body, format="json")
    if missing:
        assert response.status_code == 403
        assert refused_capability(response) == missing
        assignment.refresh_from_db()
        assert assignment.namespace == "time"
    else:
        assert response.status_code == 200, response.content
        assert response.json()["namespace"] == "clock"
        assert response.json()["prompts_enabled"] is False


def test_connection_fields_need_gateways_manage_alone(api_as_dave_with, acme_gateway):
    assignment = acme_gateway.assignments.get()
    url = f"{W}/gateways/dev/assignments/{assignment.pk}/"
    response = api_as_dave_with({GATEWAYS_MANAGE}).patch(url, {"namespace": "clock"}, format="json")
    assert response.status_code == 200, response.content


@pytest.fixture
def hidden_gateway(acme, alice):
    """A gateway provisioned to no team: only gateways.use_all reaches it."""
    return gateway_services.create_gateway(workspace=acme, slug="ops", name="Ops", actor=alice)


@pytest.mark.parametrize(("capabilities", "sees"), [({GATEWAYS_USE_ALL}, True), (set(), False)])
def test_use_all_reaches_every_gateway(
    api_as_dave_with, acme_gateway, hidden_gateway, capabilities, sees
):
    client = api_as_dave_with(capabilities)
    listed = [g["slug"] for g in client.get(f"{W}/gateways/").json()["results"]]
    assert listed == (["dev", "ops"] if sees else ["dev"])
    assert client.get(f"{W}/gateways/ops/").status_code == (200 if sees else 404)
    assert client.get(f"{W}/gateways/ops/assignments/").status_code == (200 if sees else 404)


@pytest.mark.parametrize(("capabilities", "sees"), [({ALERTS_VIEW_ALL}, True), (set(), False)])
def test_view_all_reaches_every_alert(
    api_as_dave_with, acme, acme_gateway, hidden_gateway, capabilities, sees
):
    for gateway in (acme_gateway, hidden_gateway):
        raising.raise_alert(
            workspace_id=acme.pk,
            kind="auth",
            subject="refused",
            title=f"Callers refused on {gateway.slug}",
            gateway_id=gateway.pk,
            gateway_slug=gateway.slug,
        )
    listed = api_as_dave_with(capabilities).get(f"{W}/alerts/").json()["results"]
    assert sorted(a["gateway_slug"] for a in listed) == (["dev", "ops"] if sees else ["dev"])


def test_without_use_all_a_hidden_gateway_is_missing_even_to_managers(
    api_as_dave_with, hidden_gateway
):
    client = api_as_dave_with(ALL_KEYS - {GATEWAYS_USE_ALL})
    assert client.patch(f"{W}/gateways/ops/", {"name": "x"}, format="json").status_code == 404
    assert client.delete(f"{W}/gateways/ops/").status_code == 404


@pytest.mark.parametrize(("capabilities", "sees"), [({SERVERS_VIEW_ALL}, True), (set(), False)])
def test_view_all_reaches_every_server(
    api_as_dave_with, acme, alice, acme_gateway, capabilities, sees
):
    server_services.create_server(
        workspace=acme, name="lonely", url="https://lonely.test/mcp", actor=alice
    )
    client = api_as_dave_with(capabilities)
    listed = [s["name"] for s in client.get(f"{W}/servers/").json()["results"]]
    # `time` is on gateway dev, which dave's team uses; `lonely` is on no gateway.
    assert listed == (["lonely", "time"] if sees else ["time"])
    assert client.get(f"{W}/servers/lonely/").status_code == (200 if sees else 404)


@pytest.mark.parametrize(
    ("capabilities", "sees_detail"),
    [({LOGS_VIEW, LOGS_EXPORT, LOGS_VIEW_PAYLOADS}, True), ({LOGS_VIEW, LOGS_EXPORT}, False)],
)
def test_view_payloads_reveals_the_detail(
    api_as_dave_with, acme_gateway, capabilities, sees_detail
):
    client = api_as_dave_with(capabilities)
    rows = client.get(f"{W}/changes/").json()["results"]
    assert rows
    assert all(("detail" in row) is sees_detail for row in rows)
    exported = b"".join(client.get(f"{W}/changes/export/?format=csv").streaming_content)
    header = exported.decode().splitlines()[0]
    assert header.endswith(",detail") is sees_detail


@pytest.mark.parametrize(
    ("capabilities", "sees_others"), [({CLIENTS_MANAGE_TOKENS}, True), (set(), False)]
)
def test_manage_tokens_reaches_other_peoples_tokens(
    api_as_dave_with, acme, bob, dave, token_for, capabilities, sees_others
):
    token_for(acme, bob)
    token_for(acme, dave)
    bobs = ApiToken.objects.get(user=bob)
    client = api_as_dave_with(capabilities)
    owners = {t["user"] for t in client.get(f"{W}/tokens/").json()["results"]}
    assert owners == ({"bob@acme.test", "dave@acme.test"} if sees_others else {"dave@acme.test"})
    response = client.post(f"{W}/tokens/{bobs.pk}/revoke/")
    assert response.status_code == (200 if sees_others else 404)
    bobs.refresh_from_db()
    assert (bobs.revoked_at is not None) is sees_others


def test_people_manage_cannot_grant_more_than_it_holds(api_as_dave_with, acme, bob):
    client = api_as_dave_with({PEOPLE_MANAGE})
    bob_id = Membership.objects.get(workspace=acme, user=bob).pk
    response = client.patch(f"{W}/members/{bob_id}/", {"role": "admin"}, format="json")
    assert response.status_code == 403
    body = {"key": "boss", "name": "Boss", "capabilities": [WORKSPACE_MANAGE]}
    response = client.post(f"{W}/roles/", body, format="json")
    assert response.status_code == 403
    assert refused_capability(response) == WORKSPACE_MANAGE
    assert Membership.objects.get(pk=bob_id).role.key == "member"
    # Within its own capabilities it works.
    body = {"key": "hr", "name": "HR", "capabilities": [PEOPLE_MANAGE]}
    assert client.post(f"{W}/roles/", body, format="json").status_code == 201
    response = client.patch(f"{W}/members/{bob_id}/", {"role": "hr"}, format="json")
    assert response.status_code == 200


def test_an_admin_cannot_remove_the_owner(api, acme, alice, bob):
    from teams import services as team_services

    team_services.update_member(
        membership=Membership.objects.get(workspace=acme, user=bob),
        role_key="admin",
        actor=alice,
        acting_member=None,
    )
    alice_id = Membership.objects.get(workspace=acme, user=alice).pk
    response = api.as_(bob).delete(f"{W}/members/{alice_id}/")
    assert response.status_code == 403
    assert refused_capability(response) == WORKSPACE_MANAGE


@pytest.fixture
def credentials_url(acme_gateway, alice):
    assignment = gateway_services.update_assignment(
        assignment=acme_gateway.assignments.get(), identity_scheme="manual", actor=alice
    )
    return f"{W}/gateways/dev/assignments/{assignment.pk}/credentials/"


def _bobs_credential(api, bob, url) -> str:
    created = api.as_(bob).post(url, {"kind": "bearer", "token": "bobs-token"}, format="json")
    assert created.status_code == 201, created.content
    return f"{url}{created.json()['id']}/"


def test_own_upstream_credentials_need_no_capability(api_as_dave_with, credentials_url):
    client = api_as_dave_with(set())
    body = {"kind": "bearer", "token": "daves-token"}
    created = client.post(credentials_url, body, format="json")
    assert created.status_code == 201, created.content
    own = f"{credentials_url}{created.json()['id']}/"
    assert client.post(f"{own}disable/").status_code == 200
    assert client.delete(own).status_code == 204


@pytest.mark.parametrize(
    ("capabilities", "sees_others"),
    [({IDENTITIES_VIEW_ALL}, True), ({IDENTITIES_MANAGE}, True), (set(), False)],
)
def test_view_all_reveals_other_peoples_upstream_credentials(
    api, api_as_dave_with, bob, credentials_url, capabilities, sees_others
):
    bobs = _bobs_credential(api, bob, credentials_url)
    client = api_as_dave_with(capabilities)
    owners = [c["owner"] for c in client.get(credentials_url).json()["results"]]
    assert owners == (["bob@acme.test"] if sees_others else [])
    assert client.get(bobs).status_code == (200 if sees_others else 404)


def test_identities_manage_disables_other_peoples_upstream_credentials(
    api, api_as_dave_with, bob, credentials_url
):
    bobs = _bobs_credential(api, bob, credentials_url)
    refused = api_as_dave_with(ALL_KEYS - {IDENTITIES_MANAGE}).post(f"{bobs}disable/")
    assert refused.status_code == 403
    assert refused_capability(refused) == IDENTITIES_MANAGE
    allowed = api_as_dave_with({IDENTITIES_MANAGE}).post(f"{bobs}disable/")
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["disabled"] is True
    assert api_as_dave_with({IDENTITIES_MANAGE}).delete(bobs).status_code == 204


def test_the_shared_upstream_credential_needs_gateways_manage(api_as_dave_with, credentials_url):
    body = {"shared": True, "kind": "bearer", "token": "service-token"}
    refused = api_as_dave_with(ALL_KEYS - {GATEWAYS_MANAGE}).post(
        credentials_url, body, format="json"
    )
    assert refused.status_code == 403
    assert refused_capability(refused) == GATEWAYS_MANAGE
    created = api_as_dave_with({GATEWAYS_MANAGE}).post(credentials_url, body, format="json")
    assert created.status_code == 201, created.content
    shared = f"{credentials_url}{created.json()['id']}/"
    refused = api_as_dave_with(ALL_KEYS - {GATEWAYS_MANAGE}).delete(shared)
    assert refused.status_code == 403
    assert api_as_dave_with({GATEWAYS_MANAGE}).delete(shared).status_code == 204

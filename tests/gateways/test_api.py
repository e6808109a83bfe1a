"""The gateway and assignment endpoints."""

from gateways.models import Assignment, Gateway
from tests.support.api import error

W = "/api/v1/workspaces/acme"


def test_gateways_can_be_created_listed_renamed_and_deleted(api, acme, alice):
    client = api.as_(alice)
    response = client.post(f"{W}/gateways/", {"slug": "ops", "name": "Ops"}, format="json")
    assert response.status_code == 201
    assert response.json()["mcp_path"] == "/mcp/acme/ops"
    assert response.json()["teams"] == []
    response = client.patch(f"{W}/gateways/ops/", {"name": "Operations"}, format="json")
    assert response.json()["name"] == "Operations"
    assert response.json()["config_version"] > 1
    assert [g["slug"] for g in client.get(f"{W}/gateways/").json()["results"]] == ["ops"]
    assert client.delete(f"{W}/gateways/ops/").status_code == 204
    assert not Gateway.objects.for_workspace(acme).exists()


def test_a_bad_or_taken_gateway_slug_is_refused(api, acme, alice, acme_gateway):
    client = api.as_(alice)
    response = client.post(f"{W}/gateways/", {"slug": "-bad-", "name": "X"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "slug"
    assert "lowercase letters" in error(response)["detail"]
    response = client.post(f"{W}/gateways/", {"slug": "dev", "name": "X"}, format="json")
    assert response.status_code == 409


def test_gateways_are_provisioned_to_teams(api, acme, alice, bob, acme_gateway):
    client = api.as_(alice)
    client.post(f"{W}/teams/", {"slug": "ops", "name": "Ops"}, format="json")
    response = client.put(f"{W}/gateways/dev/teams/", {"teams": ["ops", "eng"]}, format="json")
    assert response.status_code == 200
    assert response.json()["teams"] == ["eng", "ops"]
    response = client.put(f"{W}/gateways/dev/teams/", {"teams": ["ops"]}, format="json")
    assert response.json()["teams"] == ["ops"]
    # Bob is in eng only: the gateway left his reach.
    assert api.as_(bob).get(f"{W}/gateways/dev/").status_code == 404


def test_provisioning_refuses_unknown_teams(api, acme, alice, acme_gateway):
    response = api.as_(alice).put(f"{W}/gateways/dev/teams/", {"teams": ["ghost"]}, format="json")
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "Unknown teams: ghost.",
        "attr": "teams",
    }


def test_a_member_sees_the_gateways_of_their_teams(api, acme, bob, carol, acme_gateway):
    assert [g["slug"] for g in api.as_(bob).get(f"{W}/gateways/").json()["results"]] == ["dev"]
    assert api.as_(carol).get(f"{W}/gateways/").json()["results"] == []
    assert api.as_(carol).get(f"{W}/gateways/dev/").status_code == 404


def test_assignments_can_be_created_listed_updated_and_deleted(api, acme, alice, acme_gateway):
    client = api.as_(alice)
    client.post(f"{W}/servers/", {"name": "wiki", "url": "https://wiki.test/mcp"}, format="json")
    body = {
        "server": "wiki",
        "namespace": "wiki",
        "tool_mode": "selected",
        "tool_allow": ["search"],
    }
    response = client.post(f"{W}/gateways/dev/assignments/", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["server"], created["tool_allow"]) == ("wiki", ["search"])

    listed = client.get(f"{W}/gateways/dev/assignments/").json()["results"]
    assert [a["namespace"] for a in listed] == ["time", "wiki"]

    url = f"{W}/gateways/dev/assignments/{created['id']}/"
    response = client.patch(url, {"tool_mode": "all", "identity_scheme": "manual"}, format="json")
    assert response.status_code == 200
    assert (response.json()["tool_allow"], response.json()["identity_scheme"]) == ([], "manual")
    assert client.delete(url).status_code == 204
    assert not Assignment.objects.filter(pk=created["id"]).exists()


def test_a_duplicate_namespace_is_a_conflict(api, acme, alice, acme_gateway):
    client = api.as_(alice)
    client.post(f"{W}/servers/", {"name": "clock", "url": "https://clock.test/mcp"}, format="json")
    body = {"server": "clock", "namespace": "time"}
    response = client.post(f"{W}/gateways/dev/assignments/", body, format="json")
    assert response.status_code == 409
    assert error(response) == {
        "code": "conflict",
        "detail": "The namespace 'time' is already used on this gateway.",
        "attr": "namespace",
    }


def test_assignments_refuse_bad_input(api, acme, alice, acme_gateway, globex_server):
    client = api.as_(alice)
    url = f"{W}/gateways/dev/assignments/"
    response = client.post(url, {"server": "secret"}, format="json")  # globex's server
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "Unknown server 'secret'.",
        "attr": "server",
    }
    response = client.post(url, {"server": "time", "tool_mode": "sometimes"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "tool_mode"
    assignment = acme_gateway.assignments.get()
    response = client.patch(f"{url}{assignment.pk}/", {"tool_allow": ["x"]}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "tool_allow"
    response = client.patch(f"{url}{assignment.pk}/", {}, format="json")
    assert response.status_code == 400

"""The workspace, team, role and member endpoints."""

from teams.capabilities import ALL_KEYS, LOGS_VIEW
from teams.models import Membership, Role, Team, User
from tests.support.api import error

W = "/api/v1/workspaces/acme"


def test_it_shows_the_workspace_with_the_callers_role(api, acme, carol):
    body = api.as_(carol).get(f"{W}/").json()
    assert body["slug"] == "acme"
    assert body["role"] == "auditor"
    assert LOGS_VIEW in body["capabilities"]


def test_it_renames_the_workspace(api, acme, alice):
    response = api.as_(alice).patch(f"{W}/", {"name": "Acme Inc"}, format="json")
    assert response.status_code == 200
    acme.refresh_from_db()
    assert acme.name == "Acme Inc"
    response = api.as_(alice).patch(f"{W}/", {"name": ""}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "name"


def test_teams_can_be_created_listed_renamed_and_deleted(api, acme, alice):
    client = api.as_(alice)
    response = client.post(f"{W}/teams/", {"slug": "ops", "name": "Operations"}, format="json")
    assert response.status_code == 201
    assert response.json() == {"slug": "ops", "name": "Operations"}
    assert [t["slug"] for t in client.get(f"{W}/teams/").json()["results"]] == ["eng", "ops"]
    response = client.patch(f"{W}/teams/ops/", {"name": "Ops"}, format="json")
    assert response.json()["name"] == "Ops"
    assert client.delete(f"{W}/teams/ops/").status_code == 204
    assert not Team.objects.for_workspace(acme).filter(slug="ops").exists()
    assert client.get(f"{W}/teams/ops/").status_code == 404


def test_a_bad_or_taken_team_slug_is_refused(api, acme, alice):
    client = api.as_(alice)
    response = client.post(f"{W}/teams/", {"slug": "Not A Slug", "name": "X"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "slug"
    assert "lowercase letters" in error(response)["detail"]
    response = client.post(f"{W}/teams/", {"slug": "eng", "name": "Again"}, format="json")
    assert response.status_code == 409
    assert error(response) == {
        "code": "conflict",
        "detail": "A team with slug 'eng' already exists.",
        "attr": "slug",
    }


def test_roles_can_be_created_edited_duplicated_and_deleted(api, acme, alice):
    client = api.as_(alice)
    body = {"key": "reader", "name": "Reader", "capabilities": [LOGS_VIEW]}
    response = client.post(f"{W}/roles/", body, format="json")
    assert response.status_code == 201
    assert response.json()["capabilities"] == [LOGS_VIEW]
    response = client.patch(f"{W}/roles/reader/", {"capabilities": []}, format="json")
    assert response.json()["capabilities"] == []
    response = client.post(
        f"{W}/roles/auditor/duplicate/", {"key": "auditor-2", "name": "Auditor 2"}, format="json"
    )
    assert response.status_code == 201
    assert (
        response.json()["capabilities"]
        == Role.objects.get(workspace=acme, key="auditor").capabilities
    )
    assert response.json()["builtin"] is False
    assert client.delete(f"{W}/roles/reader/").status_code == 204
    assert client.get(f"{W}/roles/reader/").status_code == 404


def test_unknown_capabilities_are_refused(api, acme, alice):
    body = {"key": "odd", "name": "Odd", "capabilities": ["logs.view", "bogus.cap"]}
    response = api.as_(alice).post(f"{W}/roles/", body, format="json")
    assert response.status_code == 400
    assert error(response) == {
        "code": "invalid",
        "detail": "Unknown capabilities: bogus.cap.",
        "attr": "capabilities",
    }


def test_locked_and_builtin_roles_are_protected(api, acme, alice):
    client = api.as_(alice)
    response = client.patch(f"{W}/roles/owner/", {"name": "Boss"}, format="json")
    assert response.status_code == 400
    assert "locked" in error(response)["detail"]
    response = client.delete(f"{W}/roles/member/")
    assert response.status_code == 400
    assert "built-in" in error(response)["detail"]


def test_a_role_in_use_cannot_be_deleted(api, acme, alice):
    client = api.as_(alice)
    client.post(f"{W}/roles/", {"key": "x", "name": "X"}, format="json")
    client.post(f"{W}/members/", {"email": "new@acme.test", "role": "x"}, format="json")
    response = client.delete(f"{W}/roles/x/")
    assert response.status_code == 409


def test_everyone_reads_the_capability_catalogue(api, acme, bob):
    groups = api.as_(bob).get(f"{W}/roles/capabilities/").json()
    assert groups[0]["group"] == "Gateways"
    assert {c["key"] for g in groups for c in g["capabilities"]} == ALL_KEYS


def test_members_can_be_invited_updated_and_removed(api, acme, alice):
    client = api.as_(alice)
    body = {"email": "Newcomer@Acme.test", "role": "auditor", "teams": ["eng"]}
    response = client.post(f"{W}/members/", body, format="json")
    assert response.status_code == 201, response.content
    member = response.json()
    assert member["email"] == "newcomer@acme.test"
    assert (member["role"], member["teams"]) == ("auditor", ["eng"])
    assert not User.objects.get(email="newcomer@acme.test").has_usable_password()

    url = f"{W}/members/{member['id']}/"
    response = client.patch(url, {"role": "member", "teams": []}, format="json")
    assert (response.json()["role"], response.json()["teams"]) == ("member", [])
    assert client.delete(url).status_code == 204
    assert not Membership.objects.filter(pk=member["id"]).exists()


def test_inviting_refuses_bad_input(api, acme, alice):
    client = api.as_(alice)
    response = client.post(f"{W}/members/", {"email": "not-an-email"}, format="json")
    assert response.status_code == 400
    assert error(response)["attr"] == "email"
    response = client.post(
        f"{W}/members/", {"email": "x@acme.test", "teams": ["nope"]}, format="json"
    )
    assert response.status_code == 400
    assert error(response) == {"code": "invalid", "detail": "Unknown teams: nope.", "attr": "teams"}
    response = client.post(f"{W}/members/", {"email": "x@acme.test", "role": "nope"}, format="json")
    assert response.status_code == 400
    assert error(response)["detail"] == "Unknown role 'nope'."
    response = client.post(f"{W}/members/", {"email": "bob@acme.test"}, format="json")
    assert response.status_code == 409


def test_the_last_owner_stays(api, acme, alice):
    alice_id = Membership.objects.get(workspace=acme, user=alice).pk
    response = api.as_(alice).delete(f"{W}/members/{alice_id}/")
    assert response.status_code == 400
    assert "last owner" in error(response)["detail"]


def test_members_read_but_do_not_write(api, acme, bob):
    client = api.as_(bob)
    emails = [m["email"] for m in client.get(f"{W}/members/").json()["results"]]
    assert emails == ["alice@acme.test", "bob@acme.test", "carol@acme.test"]
    response = client.post(f"{W}/teams/", {"slug": "x", "name": "X"}, format="json")
    assert response.status_code == 403

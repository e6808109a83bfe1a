"""A workspace's SCIM set-up through the API and the console: the role new people get, the
group-to-team mapping, and SCIM tokens issued (shown once) and revoked; `workspace.manage`."""

from identities.models import ApiToken
from teams.capabilities import WORKSPACE_MANAGE
from teams.models import ConfigChange, WorkspaceScim
from teams.provisioning import role_for_new_people

W = "/api/v1/workspaces/acme"


def test_the_api_sets_the_role_and_mapping_and_issues_tokens(api, acme, alice):
    client = api.as_(alice)
    empty = client.get(f"{W}/scim/").json()
    assert empty["base_url"] == "http://testserver/scim/v2/acme/"
    assert (empty["default_role"], empty["group_teams"], empty["tokens"]) == (None, {}, [])
    assert role_for_new_people(acme) == "member"

    saved = client.put(
        f"{W}/scim/",
        {"default_role": "auditor", "group_teams": {"Engineers": "eng"}},
        format="json",
    )
    assert saved.status_code == 200, saved.content
    assert saved.json()["default_role"] == "auditor"
    assert WorkspaceScim.objects.for_workspace(acme).get().group_teams == {"Engineers": "eng"}
    assert role_for_new_people(acme) == "auditor"
    bad = client.put(f"{W}/scim/", {"group_teams": {"Spies": "nope"}}, format="json")
    assert bad.status_code == 400
    assert client.put(f"{W}/scim/", {"default_role": "nope"}, format="json").status_code == 400

    issued = client.post(f"{W}/scim/tokens/", {"name": "Okta"}, format="json")
    assert issued.status_code == 201
    secret = issued.json()["token"]
    token = ApiToken.objects.for_workspace(acme).get(pk=issued.json()["id"])
    assert token.kind == ApiToken.Kind.SCIM and token.digest != secret
    listed = client.get(f"{W}/scim/").json()["tokens"]
    assert [t["name"] for t in listed] == ["Okta"] and "token" not in listed[0]

    assert client.delete(f"{W}/scim/tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    actions = set(ConfigChange.objects.for_workspace(acme).values_list("action", flat=True))
    assert {"scim.settings.update", "token.issue", "token.revoke"} <= actions


def test_the_api_requires_workspace_manage(api_as_dave_with):
    client = api_as_dave_with({"people.manage"})
    assert client.get(f"{W}/scim/").status_code == 403
    assert client.post(f"{W}/scim/tokens/", {"name": "x"}, format="json").status_code == 403
    client = api_as_dave_with({WORKSPACE_MANAGE})
    assert client.get(f"{W}/scim/").status_code == 200
    # Setting the role new people get is granting it.
    refused = client.put(f"{W}/scim/", {"default_role": "owner"}, format="json")
    assert refused.status_code == 403


def test_the_console_page_saves_settings_and_shows_a_token_once(as_, acme, alice):
    console = as_(alice)
    page = console.get("/w/acme/settings/scim/")
    assert page.status_code == 200
    assert b"http://testserver/scim/v2/acme/" in page.content

    saved = console.post(
        "/w/acme/settings/scim/", {"default_role": "auditor", "group_teams": "Engineers = eng"}
    )
    assert saved.status_code == 302
    assert WorkspaceScim.objects.for_workspace(acme).get().default_role.key == "auditor"
    bad = console.post("/w/acme/settings/scim/", {"default_role": "", "group_teams": "nonsense"})
    assert bad.status_code == 400

    issued = console.post("/w/acme/settings/scim/", {"issue": "1", "name": "Entra"})
    assert issued.status_code == 200
    secret = issued.context["issued"].secret
    assert secret.encode() in issued.content
    assert secret.encode() not in console.get("/w/acme/settings/scim/").content

    token = ApiToken.objects.for_workspace(acme).get(kind=ApiToken.Kind.SCIM)
    assert console.post(f"/w/acme/settings/scim/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_console_page_requires_workspace_manage(console_as_dave_with):
    console = console_as_dave_with({"people.manage"})
    assert console.get("/w/acme/settings/scim/").status_code == 403

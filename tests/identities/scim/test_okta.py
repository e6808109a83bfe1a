"""Okta's SCIM 2.0 requests, with the bodies of Okta's "SCIM 2.0 protocol reference": look the
person up by userName, create them, push a group and add them to it, rename the group, remove
them from it, deactivate and reactivate them, then delete the group. Each answer is the one
Okta documents, and the teams and memberships follow."""

from teams.models import ConfigChange, Membership, Team

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

OKTA_USER = {
    "schemas": [USER],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}


def _patch(*operations):
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def test_okta_provisions_a_person_and_a_group(scim, acme):
    found = scim.get(
        "Users",
        params={"filter": 'userName eq "test.user@okta.local"', "startIndex": 1, "count": 100},
    )
    assert found.status_code == 200
    assert found.json() == {
        "schemas": [LIST],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }

    created = scim.post("Users", json=OKTA_USER)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/scim+json"
    user = created.json()
    assert created.headers["Location"] == user["meta"]["location"]
    assert created.headers["ETag"] == user["meta"]["version"]
    assert user["userName"] == "test.user@okta.local"
    assert user["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert user["active"] is True
    assert user["name"] == {"givenName": "Test", "familyName": "User"}
    assert "password" not in user
    membership = Membership.objects.for_workspace(acme).get(user__email="test.user@okta.local")
    assert membership.role.key == "member"
    assert str(membership.scim_id) == user["id"]
    assert "1mz050nq" not in str(membership.scim_attributes)

    again = scim.get("Users", params={"filter": 'userName eq "test.user@okta.local"'})
    assert [r["id"] for r in again.json()["Resources"]] == [user["id"]]
    assert scim.get(f"Users/{user['id']}").json()["id"] == user["id"]

    pushed = scim.post(
        "Groups", json={"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}
    )
    assert pushed.status_code == 201, pushed.text
    group = pushed.json()
    team = Team.objects.for_workspace(acme).get(scim_id=group["id"])
    assert (team.slug, team.name) == ("test-scimv2", "Test SCIMv2")

    added = scim.patch(
        f"Groups/{group['id']}",
        json=_patch(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": user["id"], "display": "test.user@okta.local"}],
            }
        ),
    )
    assert added.status_code == 200, added.text
    assert [m["value"] for m in added.json()["members"]] == [user["id"]]
    assert list(team.memberships.values_list("user__email", flat=True)) == ["test.user@okta.local"]
    assert [g["display"] for g in scim.get(f"Users/{user['id']}").json()["groups"]] == [
        "Test SCIMv2"
    ]

    renamed = scim.patch(
        f"Groups/{group['id']}",
        json=_patch(
            {"op": "replace", "value": {"id": group["id"], "displayName": "Test SCIMv2 renamed"}}
        ),
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["displayName"] == "Test SCIMv2 renamed"
    team.refresh_from_db()
    assert (team.slug, team.name) == ("test-scimv2", "Test SCIMv2 renamed")

    removed = scim.patch(
        f"Groups/{group['id']}",
        json=_patch({"op": "remove", "path": f'members[value eq "{user["id"]}"]'}),
    )
    assert removed.status_code == 200, removed.text
    assert "members" not in removed.json()
    assert not team.memberships.exists()

    deactivated = scim.patch(
        f"Users/{user['id']}", json=_patch({"op": "replace", "value": {"active": False}})
    )
    assert deactivated.status_code == 200, deactivated.text
    assert deactivated.json()["active"] is False
    assert not Membership.objects.for_workspace(acme).filter(scim_id=user["id"]).exists()
    assert Membership.everyone.for_workspace(acme).get(scim_id=user["id"]).active is False
    listed = scim.get("Users", params={"filter": 'userName eq "test.user@okta.local"'}).json()
    assert listed["Resources"][0]["active"] is False

    reactivated = scim.patch(
        f"Users/{user['id']}", json=_patch({"op": "replace", "value": {"active": True}})
    )
    assert reactivated.json()["active"] is True
    assert Membership.objects.for_workspace(acme).filter(scim_id=user["id"]).exists()

    replaced = scim.put(
        f"Users/{user['id']}",
        json={**OKTA_USER, "id": user["id"], "name": {"givenName": "Tess", "familyName": "User"}},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"]["givenName"] == "Tess"

    deleted = scim.delete(f"Groups/{group['id']}")
    assert deleted.status_code == 204
    assert not Team.objects.for_workspace(acme).filter(scim_id=group["id"]).exists()
    assert scim.get(f"Groups/{group['id']}").status_code == 404

    changes = ConfigChange.objects.for_workspace(acme).filter(action__startswith="scim.")
    assert {c.detail["client"] for c in changes} == {"Okta"}
    assert set(changes.values_list("action", flat=True)) == {
        "scim.user.create",
        "scim.user.update",
        "scim.group.create",
        "scim.group.update",
        "scim.group.delete",
    }
    suspend = ConfigChange.objects.for_workspace(acme).get(action="member.suspend")
    # Names the SCIM client, and what the suspension revoked (identities/offboarding.py).
    assert (suspend.detail["via"], suspend.detail["client"]) == ("scim", "Okta")
    assert set(suspend.detail["revoked"]) >= {"api_tokens", "oauth_access_tokens"}

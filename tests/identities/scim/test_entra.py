"""Microsoft Entra's SCIM requests, with the bodies of "Tutorial: Develop and plan provisioning
for a SCIM endpoint": create a user (enterprise extension, `meta` in the request), find them,
update their work email and family name, create a group (Entra's own schema URN named), add
and remove a member with `"$ref": null`, rename the group, disable the user with a string
boolean, delete both."""

from teams.models import ConfigChange, Membership, Team

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"

ENTRA_USER = {
    "schemas": [USER, ENTERPRISE],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
    "active": True,
    "emails": [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
        }
    ],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}


def _patch(*operations):
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def test_entra_provisions_and_deprovisions(scim, acme):
    created = scim.post("Users", json=ENTRA_USER)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["userName"] == ENTRA_USER["userName"]
    assert user["externalId"] == ENTRA_USER["externalId"]
    address = "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
    membership = Membership.objects.for_workspace(acme).get(scim_id=user["id"])
    assert membership.user.email == address

    found = scim.get("Users", params={"filter": f'userName eq "{ENTRA_USER["userName"]}"'}).json()
    assert (found["totalResults"], found["Resources"][0]["id"]) == (1, user["id"])
    by_external = scim.get(
        "Users", params={"filter": f'externalId eq "{ENTRA_USER["externalId"]}"'}
    )
    assert [r["id"] for r in by_external.json()["Resources"]] == [user["id"]]

    updated = scim.patch(
        f"Users/{user['id']}",
        json=_patch(
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ),
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["emails"][0]["value"] == "updatedEmail@microsoft.com"
    assert updated.json()["name"]["familyName"] == "updatedFamilyName"
    membership.user.refresh_from_db()
    assert membership.user.email == "updatedemail@microsoft.com"

    group = scim.post(
        "Groups",
        json={
            "schemas": [GROUP, ENTRA_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
        },
    )
    assert group.status_code == 201, group.text
    group = group.json()
    team = Team.objects.for_workspace(acme).get(scim_id=group["id"])
    assert team.external_id == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"

    fetched = scim.get(f"Groups/{group['id']}", params={"excludedAttributes": "members"})
    assert fetched.status_code == 200 and "members" not in fetched.json()
    listed = scim.get(
        "Groups", params={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'}
    )
    assert [g["id"] for g in listed.json()["Resources"]] == [group["id"]]

    added = scim.patch(
        f"Groups/{group['id']}",
        json=_patch(
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": user["id"]}]}
        ),
    )
    assert added.status_code == 200, added.text
    assert list(team.memberships.values_list("scim_id", flat=True))[0].hex == user["id"].replace(
        "-", ""
    )
    member_filter = f'id eq "{group["id"]}" and members[value eq "{user["id"]}"]'
    assert scim.get("Groups", params={"filter": member_filter}).json()["totalResults"] == 1

    renamed = scim.patch(
        f"Groups/{group['id']}",
        json=_patch(
            {"op": "Replace", "path": "displayName", "value": "1879db59updatedDisplayName"}
        ),
    )
    assert renamed.json()["displayName"] == "1879db59updatedDisplayName"

    removed = scim.patch(
        f"Groups/{group['id']}",
        json=_patch(
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": user["id"]}]}
        ),
    )
    assert removed.status_code == 200, removed.text
    assert not team.memberships.exists()
    assert scim.get("Groups", params={"filter": member_filter}).json()["totalResults"] == 0

    disabled = scim.patch(
        f"Users/{user['id']}", json=_patch({"op": "Replace", "path": "active", "value": "False"})
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["active"] is False
    assert not Membership.objects.for_workspace(acme).filter(scim_id=user["id"]).exists()
    enabled = scim.patch(
        f"Users/{user['id']}", json=_patch({"op": "Replace", "path": "active", "value": "True"})
    )
    assert enabled.json()["active"] is True

    assert scim.delete(f"Users/{user['id']}").status_code == 204
    assert not Membership.everyone.for_workspace(acme).filter(scim_id=user["id"]).exists()
    assert scim.get(f"Users/{user['id']}").status_code == 404
    assert scim.delete(f"Groups/{group['id']}").status_code == 204
    assert not Team.objects.for_workspace(acme).filter(scim_id=group["id"]).exists()

    actions = list(
        ConfigChange.objects.for_workspace(acme)
        .filter(detail__client="Okta")
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions[0] == "scim.user.create"
    assert "member.suspend" in actions and "member.reactivate" in actions
    assert actions[-2:] == ["scim.user.delete", "scim.group.delete"]
    removal = ConfigChange.objects.for_workspace(acme).get(action="member.remove")
    assert removal.detail["revoked"]["api_tokens"] == 0

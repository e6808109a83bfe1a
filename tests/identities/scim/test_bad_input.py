"""What a SCIM client gets for bad input: the SCIM error document with the status and
`scimType` of RFC 7644 section 3.12, never a 500; and another workspace's ids are a 404."""

import pytest

from teams import services as team_services
from teams.models import Membership

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _refused(response, status, scim_type=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body["detail"]
    assert body.get("scimType") == scim_type
    return body


@pytest.fixture
def person(scim):
    response = scim.post("Users", json={"schemas": [USER], "userName": "pat@acme.test"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    "text",
    [
        "userName eq",
        'userName eq "a" and',
        '(userName eq "a"',
        'userName xx "a"',
        'userName eq "unterminated',
    ],
)
def test_a_malformed_filter_is_invalid_filter(scim, text):
    _refused(scim.get("Users", params={"filter": text}), 400, "invalidFilter")


@pytest.mark.parametrize(
    "text",
    ['title eq "boss"', 'nickName co "x"', 'userName gt "a"', 'urn:example:User:userName eq "a"'],
)
def test_a_filter_on_what_cannot_be_filtered_is_invalid_filter(scim, text):
    _refused(scim.get("Users", params={"filter": text}), 400, "invalidFilter")


def test_filters_combine_with_and_or(scim, person):
    found = scim.get(
        "Users",
        params={"filter": '(userName sw "pat" or userName eq "nobody") and emails co "acme"'},
    ).json()
    assert [r["id"] for r in found["Resources"]] == [person["id"]]
    none = scim.get("Users", params={"filter": 'userName sw "pat" and externalId eq "x"'}).json()
    assert none["totalResults"] == 0


def test_an_unknown_attribute_is_refused(scim):
    body = {"schemas": [USER], "userName": "x@acme.test", "favouriteColour": "blue"}
    _refused(scim.post("Users", json=body), 400, "invalidSyntax")


@pytest.mark.parametrize(
    "schemas", [["urn:ietf:params:scim:schemas:core:2.0:Userx"], [GROUP], "not a list"]
)
def test_a_wrong_schema_urn_is_refused(scim, schemas):
    _refused(
        scim.post("Users", json={"schemas": schemas, "userName": "x@acme.test"}),
        400,
        "invalidSyntax",
    )


def test_a_ten_megabyte_body_is_too_large(scim):
    body = f'{{"schemas": ["{USER}"], "userName": "{"x" * 10 * 1024 * 1024}"}}'
    _refused(scim.post("Users", content=body), 413)

    def chunks():  # no Content-Length: the size is found by reading
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)].encode()

    _refused(scim.post("Users", content=chunks()), 413)


@pytest.mark.parametrize("content", ["{not json", "[]", '"a string"', "\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_invalid_syntax(scim, content):
    _refused(scim.post("Users", content=content.encode("latin-1")), 400, "invalidSyntax")


def test_a_missing_user_name_is_refused(scim):
    _refused(scim.post("Users", json={"schemas": [USER]}), 400, "invalidValue")


def test_a_taken_user_name_is_a_uniqueness_conflict(scim, person):
    again = scim.post("Users", json={"schemas": [USER], "userName": "PAT@acme.test"})
    _refused(again, 409, "uniqueness")
    bob = scim.post("Users", json={"schemas": [USER], "userName": "bob@acme.test"})
    _refused(bob, 409, "uniqueness")


@pytest.mark.parametrize("value", ["0", "one", "-"])
def test_pagination_takes_integers(scim, value):
    _refused(scim.get("Users", params={"startIndex": value + "x"}), 400, "invalidValue")


def test_pagination_pages_through_everyone(scim, person):
    first = scim.get("Users", params={"startIndex": 1, "count": 2}).json()
    rest = scim.get("Users", params={"startIndex": 3, "count": 10}).json()
    assert first["totalResults"] == rest["totalResults"] == 4  # alice, bob, carol, pat
    assert first["itemsPerPage"] == 2 and rest["itemsPerPage"] == 2
    ids = [r["id"] for r in first["Resources"] + rest["Resources"]]
    assert len(set(ids)) == 4 and person["id"] in ids


@pytest.mark.parametrize(
    "operation, scim_type",
    [
        ({"op": "frobnicate", "path": "userName", "value": "x"}, "invalidValue"),
        ({"op": "replace", "path": "shoeSize", "value": 9}, "invalidPath"),
        ({"op": "replace", "path": "emails[type eq", "value": "x"}, "invalidPath"),
        ({"op": "replace", "path": "id", "value": "mine"}, "mutability"),
        ({"op": "remove", "path": "userName"}, "mutability"),
    ],
)
def test_a_bad_patch_is_refused(scim, person, operation, scim_type):
    response = scim.patch(
        f"Users/{person['id']}", json={"schemas": [PATCH_OP], "Operations": [operation]}
    )
    assert response.status_code == 400, response.text
    assert response.json()["schemas"] == [ERROR]


def test_a_stale_etag_is_refused_and_a_fresh_one_is_not_modified(scim, person):
    etag = person["meta"]["version"]
    assert scim.get(f"Users/{person['id']}", headers={"If-None-Match": etag}).status_code == 304
    changed = scim.patch(
        f"Users/{person['id']}",
        json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Pat"}],
        },
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] != etag
    stale = scim.put(
        f"Users/{person['id']}",
        json={"schemas": [USER], "userName": "pat@acme.test"},
        headers={"If-Match": etag},
    )
    _refused(stale, 412)
    _refused(scim.delete(f"Users/{person['id']}", headers={"If-Match": etag}), 412)


def test_the_last_owner_cannot_be_deleted(scim, acme, alice):
    owner = Membership.objects.for_workspace(acme).get(user=alice)
    _refused(scim.delete(f"Users/{owner.scim_id}"), 400, "mutability")
    assert Membership.objects.for_workspace(acme).filter(pk=owner.pk).exists()


def test_another_workspaces_ids_are_not_found(scim, globex, mallory):
    theirs = Membership.objects.for_workspace(globex).get(user=mallory)
    team = globex.teams.get(slug="ops")
    for path in (f"Users/{theirs.scim_id}", f"Groups/{team.scim_id}"):
        _refused(scim.get(path), 404)
        _refused(scim.delete(path), 404)
        _refused(scim.patch(path, json={"schemas": [PATCH_OP], "Operations": []}), 404)
    _refused(
        scim.put(f"Users/{theirs.scim_id}", json={"schemas": [USER], "userName": "m@x.test"}), 404
    )
    _refused(scim.get("Users/not-a-uuid"), 404)
    joined = scim.post(
        "Groups",
        json={
            "schemas": [GROUP],
            "displayName": "Spies",
            "members": [{"value": str(theirs.scim_id)}],
        },
    )
    _refused(joined, 400, "invalidValue")
    listed = scim.get("Users", params={"filter": 'userName eq "mallory@globex.test"'}).json()
    assert listed["totalResults"] == 0
    assert Membership.objects.for_workspace(globex).get(pk=theirs.pk).active
    assert globex.teams.filter(slug="ops").exists()


def test_unknown_paths_and_methods_get_scim_errors(scim):
    _refused(scim.get("Bogus"), 404)
    _refused(scim.delete("Users"), 405)
    _refused(scim.get("Schemas/urn:nope"), 404)
    _refused(scim.get("ResourceTypes/Printer"), 404)


def test_a_group_needs_a_short_enough_name(scim):
    _refused(
        scim.post("Groups", json={"schemas": [GROUP], "displayName": "x" * 121}),
        400,
        "invalidValue",
    )
    _refused(
        scim.post("Groups", json={"schemas": [GROUP], "displayName": "  "}), 400, "invalidValue"
    )


def test_a_group_takes_the_team_of_its_name_or_mapping(scim, acme, alice):
    team_services.create_team(workspace=acme, slug="platform", name="Platform", actor=alice)
    from teams.models import WorkspaceScim

    WorkspaceScim.objects.create(workspace=acme, group_teams={"Okta Engineers": "eng"})
    mapped = scim.post("Groups", json={"schemas": [GROUP], "displayName": "Okta Engineers"}).json()
    named = scim.post("Groups", json={"schemas": [GROUP], "displayName": "platform"}).json()
    assert mapped["id"] == str(acme.teams.get(slug="eng").scim_id)
    assert named["id"] == str(acme.teams.get(slug="platform").scim_id)
    assert acme.teams.count() == 2


def test_an_owners_address_is_not_changed_by_scim(scim, acme, alice):
    owner = Membership.objects.for_workspace(acme).get(user=alice)
    body = {"schemas": [USER], "userName": "attacker@evil.test"}
    _refused(scim.put(f"Users/{owner.scim_id}", json=body), 400, "mutability")
    alice.refresh_from_db()
    assert alice.email == "alice@acme.test"


def test_an_address_shared_with_another_workspace_is_not_changed(scim, acme, globex, bob):
    team_services.add_member(workspace=globex, user=bob, actor=None, acting_member=None)
    member = Membership.objects.for_workspace(acme).get(user=bob)
    body = {"schemas": [USER], "userName": "robert@acme.test"}
    _refused(scim.put(f"Users/{member.scim_id}", json=body), 400, "mutability")
    taken = {"schemas": [USER], "userName": "carol@acme.test"}
    _refused(scim.put(f"Users/{member.scim_id}", json=taken), 409, "uniqueness")

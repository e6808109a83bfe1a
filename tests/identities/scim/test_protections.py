"""What the SCIM token holder cannot do: take over an account by its address, lock owners out,
leave a suspended person in a team or holding access, overload the database with a filter, or
lock the identity provider out with bad tokens from its address."""

import httpx2
import pytest
from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction

from core.errors import ValidationFailed
from identities import offboarding
from identities.inbound import tokens
from identities.inbound.scim_access import BAD_TOKEN_RATE
from identities.models import ApiToken
from identities.scim import documents, services
from identities.scim.errors import ScimError
from identities.services import issue_token
from teams.models import Membership, Team, User

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def _refused(response, status, scim_type):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body.get("scimType") == scim_type
    return body


def _scim_id(workspace, user) -> str:
    return str(Membership.everyone.for_workspace(workspace).get(user=user).scim_id)


def _deactivate():
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }


@pytest.fixture
def pat(scim):
    """A person SCIM provisioned: an account with no password of its own."""
    response = scim.post("Users", json={"schemas": [USER], "userName": "pat@acme.test"})
    assert response.status_code == 201, response.text
    return response.json()


# -- the sign-in address ------------------------------------------------------------------------


def test_the_address_of_an_account_with_a_password_is_not_changed(scim, acme, bob):
    body = {"schemas": [USER], "userName": "attacker@evil.test"}
    detail = _refused(scim.put(f"Users/{_scim_id(acme, bob)}", json=body), 400, "mutability")
    assert "bob@acme.test" in detail["detail"]
    bob.refresh_from_db()
    assert bob.email == "bob@acme.test"


def test_the_address_of_a_platform_operator_is_not_changed(scim, acme, pat):
    user = User.objects.get(email="pat@acme.test")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    body = {"schemas": [USER], "userName": "attacker@evil.test"}
    _refused(scim.put(f"Users/{pat['id']}", json=body), 400, "mutability")
    user.refresh_from_db()
    assert user.email == "pat@acme.test"


def test_a_changed_address_replaces_the_accounts_allauth_addresses(scim, pat):
    user = User.objects.get(email="pat@acme.test")
    assert not user.has_usable_password()
    EmailAddress.objects.create(user=user, email="pat@acme.test", primary=True, verified=True)
    body = {"schemas": [USER], "userName": "patricia@acme.test"}
    response = scim.put(f"Users/{pat['id']}", json=body)
    assert response.status_code == 200, response.text
    user.refresh_from_db()
    assert user.email == "patricia@acme.test"
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == [
        "patricia@acme.test"
    ]
    assert not EmailAddress.objects.filter(email="pat@acme.test").exists()


# -- owners -------------------------------------------------------------------------------------


def test_an_owner_is_neither_suspended_nor_deleted(scim, acme, alice):
    owner_id = _scim_id(acme, alice)
    body = _refused(scim.patch(f"Users/{owner_id}", json=_deactivate()), 400, "mutability")
    assert "owners are managed in the console" in body["detail"]
    _refused(scim.delete(f"Users/{owner_id}"), 400, "mutability")
    owner = Membership.everyone.for_workspace(acme).get(user=alice)
    assert owner.active


# -- teams --------------------------------------------------------------------------------------


def test_a_group_replacement_takes_a_suspended_member_out_of_the_team(scim, acme, bob):
    team = Team.objects.for_workspace(acme).get(slug="eng")
    group = scim.post(
        "Groups", json={"schemas": [GROUP], "displayName": "Engineering", "members": []}
    )
    assert group.status_code == 201, group.text
    bob_id = _scim_id(acme, bob)
    put = {"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": bob_id}]}
    assert scim.put(f"Groups/{group.json()['id']}", json=put).status_code == 200
    assert scim.patch(f"Users/{bob_id}", json=_deactivate()).status_code == 200
    shown = scim.get(f"Groups/{group.json()['id']}").json()
    assert [m["value"] for m in shown["members"]] == [bob_id]

    emptied = scim.put(
        f"Groups/{group.json()['id']}",
        json={"schemas": [GROUP], "displayName": "Engineering", "members": []},
    )
    assert emptied.status_code == 200, emptied.text
    assert not emptied.json().get("members")
    assert not Membership.everyone.filter(teams=team).exists()


# -- filters ------------------------------------------------------------------------------------


def test_a_huge_filter_is_invalid_filter(scim):
    text = " or ".join(f'userName eq "p{n}@acme.test"' for n in range(1500))
    _refused(scim.get("Users", params={"filter": text}), 400, "invalidFilter")


def test_too_many_comparisons_are_invalid_filter(scim):
    text = " or ".join(f'id eq "{n}"' for n in range(51))
    assert len(text) < 1000
    search = {"schemas": [SEARCH], "filter": text}
    body = _refused(scim.post("Users/.search", json=search), 400, "invalidFilter")
    assert "50 comparisons" in body["detail"]
    fifty = " or ".join(f'id eq "{n}"' for n in range(50))
    assert (
        scim.post("Users/.search", json={"schemas": [SEARCH], "filter": fifty}).status_code == 200
    )


def test_too_deep_a_filter_is_invalid_filter(scim):
    deep = "not (" * 10 + 'userName eq "a"' + ")" * 10
    body = _refused(scim.get("Users", params={"filter": deep}), 400, "invalidFilter")
    assert "10 levels" in body["detail"]
    allowed = "not (" * 9 + 'userName eq "a"' + ")" * 9
    assert scim.get("Users", params={"filter": allowed}).status_code == 200


# -- bad tokens ---------------------------------------------------------------------------------


def test_bad_tokens_do_not_lock_out_a_valid_token_from_the_same_address(scim_base, scim_token):
    allowed = int(BAD_TOKEN_RATE.split("/")[0])

    def get(secret):
        headers = {"Authorization": f"Bearer {secret}"}
        return httpx2.get(f"{scim_base}Users", headers=headers, timeout=30, trust_env=False)

    for _ in range(allowed):
        assert get("gth_wrong").status_code == 401
    assert get("gth_wrong").status_code == 429
    assert get(scim_token).status_code == 200


# -- revocation ---------------------------------------------------------------------------------


def _token_behind_the_suspension(workspace, user) -> ApiToken:
    """A token of a person already suspended, as one issued while the suspension committed."""
    secret = tokens.generate()
    return ApiToken.objects.create(
        workspace=workspace,
        user=user,
        kind=ApiToken.Kind.GATEWAY,
        name="late",
        prefix=tokens.display_prefix(secret),
        digest=tokens.digest(secret),
    )


def test_deleting_a_suspended_person_revokes_what_they_still_hold(scim, acme, bob):
    bob_id = _scim_id(acme, bob)
    assert scim.patch(f"Users/{bob_id}", json=_deactivate()).status_code == 200
    late = _token_behind_the_suspension(acme, bob)
    assert scim.delete(f"Users/{bob_id}").status_code == 204
    late.refresh_from_db()
    assert late.revoked_at is not None
    assert not Membership.everyone.for_workspace(acme).filter(user=bob).exists()


def test_no_token_is_issued_to_a_membership_suspended_since_it_was_read(acme, bob):
    stale = Membership.objects.for_workspace(acme).get(user=bob)
    offboarding.suspend_member(
        membership=Membership.objects.for_workspace(acme).get(user=bob), actor=None
    )
    assert stale.active
    with pytest.raises(ValidationFailed, match="suspended"):
        issue_token(membership=stale, name="late", actor=None)
    assert not ApiToken.objects.for_workspace(acme).filter(user=bob, name="late").exists()


# -- PUT and active -----------------------------------------------------------------------------


def test_a_put_without_active_leaves_a_suspended_person_suspended(scim, pat):
    assert scim.patch(f"Users/{pat['id']}", json=_deactivate()).status_code == 200
    put = {"schemas": [USER], "userName": "pat@acme.test", "displayName": "Pat"}
    response = scim.put(f"Users/{pat['id']}", json=put)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert not Membership.everyone.get(scim_id=pat["id"]).active
    reactivated = scim.put(f"Users/{pat['id']}", json={**put, "active": True})
    assert reactivated.json()["active"] is True


def test_a_patch_removing_active_gives_access_back(scim, pat):
    assert scim.patch(f"Users/{pat['id']}", json=_deactivate()).status_code == 200
    removal = {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "active"}]}
    response = scim.patch(f"Users/{pat['id']}", json=removal)
    assert response.status_code == 200, response.text
    assert Membership.everyone.get(scim_id=pat["id"]).active


# -- userName uniqueness ------------------------------------------------------------------------


def test_the_database_keeps_scim_user_names_unique(acme, bob, carol):
    Membership.everyone.for_workspace(acme).filter(user=bob).update(scim_user_name="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.everyone.for_workspace(acme).filter(user=carol).update(scim_user_name="same")


def test_a_create_racing_another_is_uniqueness_not_a_500(acme, monkeypatch):
    # The check passes for both requests; the second write meets the first's row.
    monkeypatch.setattr(services, "_check_user_name_free", lambda *args, **kwargs: None)
    client = services.ScimClient(name="Okta")

    def create(address):
        resource = documents.read(
            documents.USER_MODEL,
            {"schemas": [USER], "userName": "Same-Name", "emails": [{"value": address}]},
            context=services.Context.RESOURCE_CREATION_REQUEST,
        )
        return services.create_user(workspace=acme, resource=resource, client=client)

    create("first@acme.test")
    with pytest.raises(ScimError) as refused:
        create("second@acme.test")
    assert (refused.value.status, refused.value.scim_type) == (409, "uniqueness")
    assert Membership.everyone.for_workspace(acme).filter(scim_user_name="same-name").count() == 1

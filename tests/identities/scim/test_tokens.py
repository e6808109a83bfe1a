"""Who may use a workspace's SCIM endpoint: its own live SCIM token, and nothing else. A SCIM
token of another workspace gets a 404, as a workspace that does not exist does."""

import httpx2
import pytest
from django.core.management import call_command

from identities.models import ApiToken
from identities.offboarding import suspend_member
from identities.services import issue_token, revoke_token
from teams.models import ConfigChange, Membership


def _get(base, path, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.get(f"{base}{path}", headers=headers, timeout=30, trust_env=False)


def test_it_works_with_the_workspaces_scim_token(scim_base, scim_token):
    response = _get(scim_base, "ServiceProviderConfig", scim_token)
    assert response.status_code == 200
    assert response.json()["patch"] == {"supported": True}
    assert response.json()["etag"] == {"supported": True}


@pytest.mark.parametrize("token", [None, "", "gth_nonsense", "Basic abc"])
def test_it_requires_a_token(scim_base, token):
    response = _get(scim_base, "Users", token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["status"] == "401"


def test_it_hides_other_workspaces(gateway_base, scim_base, globex_scim_token, scim_token):
    assert _get(scim_base, "Users", globex_scim_token).status_code == 404
    assert _get(f"{gateway_base}/scim/v2/nowhere/", "Users", scim_token).status_code == 404
    assert _get(f"{gateway_base}/scim/v2/globex/", "Users", scim_token).status_code == 404
    assert _get(f"{gateway_base}/scim/v2/globex/", "Users", globex_scim_token).status_code == 200


def test_it_refuses_other_kinds_of_token(scim_base, acme, alice):
    owner = Membership.objects.for_workspace(acme).get(user=alice)
    for kind, scopes in ((ApiToken.Kind.GATEWAY, ()), (ApiToken.Kind.API, ("read",))):
        secret = issue_token(
            membership=owner, name=kind, kind=kind, scopes=scopes, actor=alice
        ).secret
        assert _get(scim_base, "Users", secret).status_code == 403


def test_a_revoked_token_opens_nothing(scim_base, scim_token, acme, alice):
    token = ApiToken.objects.for_workspace(acme).get(kind=ApiToken.Kind.SCIM)
    revoke_token(token=token, actor=alice)
    assert _get(scim_base, "Users", scim_token).status_code == 401


def test_a_scim_token_does_not_open_the_management_api(gateway_base, scim_base, scim_token):
    response = _get(gateway_base, "/api/v1/workspaces/acme/members/", scim_token)
    assert response.status_code == 403


def test_the_command_issues_a_token_on_its_last_line(scim_base, acme, capsys):
    call_command("issue_scim_token", "--workspace", "acme", "--name", "Entra")
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert secret.startswith("gth_")
    token = ApiToken.objects.for_workspace(acme).get(kind=ApiToken.Kind.SCIM, name="Entra")
    assert token.digest != secret and secret not in token.digest
    assert _get(scim_base, "Users", secret).status_code == 200
    issued = ConfigChange.objects.for_workspace(acme).get(action="token.issue")
    assert issued.detail["kind"] == "scim"


def test_the_command_refuses_an_unknown_workspace(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown workspace"):
        call_command("issue_scim_token", "--workspace", "nowhere")


def test_suspending_the_admin_who_issued_it_leaves_provisioning_working(
    scim_base, scim_token, acme, alice, carol
):
    issuer = Membership.objects.for_workspace(acme).get(user=alice)
    # Another owner remains, so the issuing owner may be suspended.
    other = Membership.objects.for_workspace(acme).get(user=carol)
    other.role = issuer.role
    other.save(update_fields=["role"])
    suspend_member(membership=issuer, actor=carol)
    assert _get(scim_base, "Users", scim_token).status_code == 200
    token = ApiToken.objects.for_workspace(acme).get(kind=ApiToken.Kind.SCIM)
    assert token.revoked_at is None

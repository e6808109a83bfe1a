"""Deprovisioning: suspending or removing a member revokes, in that workspace, every credential
they hold (API tokens of each kind, OAuth tokens and codes, upstream connections and manual
credentials, console sessions) and keeps their history; reactivating gives the membership back
and nothing else."""

import io
import json

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from audit.log.chain import verify_export, verify_workspace
from audit.log.writer import flush
from audit.models import LogEntry
from core import crypto
from core.errors import ValidationFailed
from gateways import services as gateway_services
from identities import offboarding
from identities import services as identity_services
from identities.inbound import tokens
from identities.models import ApiToken, UpstreamConnection, UpstreamCredential
from teams import api_access
from teams import services as team_services
from teams.models import ConfigChange, Membership, Role
from tests.identities.browser import Browser
from tests.support.api import error
from tests.support.oauth_apps import oauth_app, oauth_sign_in


def _membership(workspace, user) -> Membership:
    return Membership.everyone.get(workspace=workspace, user=user)


def _mcp_status(deployment, secret: str) -> int:
    """The status of an MCP `initialize` presenting `secret` at the deployment's gateway."""
    response = httpx.post(
        deployment.url,
        headers=deployment.headers(secret),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "offboarding", "version": "1"},
            },
        },
    )
    return response.status_code


def _personal_manual_credential(deployment, user) -> UpstreamCredential:
    assignment = gateway_services.update_assignment(
        assignment=deployment.readonly, identity_scheme="manual", actor=deployment.alice
    )
    credential, _ = identity_services.set_credential(
        assignment=assignment,
        owner=user,
        data={"kind": "bearer", "token": "bob-own-token"},
        actor=user,
    )
    return credential


def test_suspending_revokes_every_credential_and_keeps_the_history(accounts, alice, bob):
    deployment = accounts.deployment
    acme = deployment.acme
    membership = _membership(acme, bob)
    browser = accounts.connect(bob)  # a console session and an upstream connection
    upstream_tokens = crypto.decrypt(accounts.connection_of(bob).secret)
    assert accounts.call(bob).content[0].text.startswith("bob|")
    gateway_token = deployment.token_for(bob)
    deployment.token_for(bob, kind="api", scopes=[api_access.READ])
    deployment.token_for(bob, kind="connector")
    credential = _personal_manual_credential(deployment, bob)
    oauth = oauth_sign_in(bob, oauth_app(alice), f"{deployment.base}/mcp/acme/dev")
    assert _mcp_status(deployment, gateway_token) == 200
    assert _mcp_status(deployment, oauth["secret"]) == 200
    flush(timeout=10)
    history = LogEntry.objects.filter(workspace=acme, user_id=bob.pk).count()
    assert history > 0

    offboarding.suspend_member(membership=membership, actor=alice)

    assert not _membership(acme, bob).active
    live = ApiToken.objects.filter(user=bob, revoked_at__isnull=True)
    assert not live.exists()
    assert ApiToken.objects.filter(user=bob).count() == 4  # `accounts.call` issued one too
    assert not AccessToken.objects.filter(pk=oauth["access"].pk).exists()
    assert RefreshToken.objects.get(pk=oauth["refresh"].pk).revoked is not None
    assert not Grant.objects.filter(pk=oauth["grant"].pk).exists()
    assert not UpstreamConnection.objects.filter(owner=bob).exists()
    assert not UpstreamCredential.objects.filter(pk=credential.pk).exists()
    # The upstream's authorization server was asked to revoke the connection's tokens.
    assert [(r["token_type_hint"], r["token"]) for r in accounts.upstream.revoke_requests] == [
        ("refresh_token", upstream_tokens["refresh_token"]),
        ("access_token", upstream_tokens["access_token"]),
    ]
    assert upstream_tokens["refresh_token"] not in accounts.upstream.provider.refresh
    # bob belongs to no other workspace: his console session is over.
    assert browser.http.get("/w/acme/").status_code in (302, 404)
    assert not any(
        s.get_decoded().get("_auth_user_id") == str(bob.pk) for s in Session.objects.all()
    )
    # The next MCP call is refused, whichever token it presents.
    assert _mcp_status(deployment, gateway_token) == 401
    assert _mcp_status(deployment, oauth["secret"]) == 401
    change = ConfigChange.objects.get(action="member.suspend")
    assert change.detail["revoked"] == {
        "api_tokens": 4,
        "oauth_access_tokens": 1,
        "oauth_refresh_tokens": 1,
        "oauth_grants": 1,
        "upstream_connections": 1,
        "upstream_credentials": 1,
        "console_sessions": 1,
    }
    # Nothing of the audit history is gone, and it still exports and verifies.
    flush(timeout=10)
    assert LogEntry.objects.filter(workspace=acme, user_id=bob.pk).count() >= history
    out = io.StringIO()
    call_command("export_logs", workspace="acme", format="jsonl", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(json.loads(line).get("user_email") == "bob@acme.test" for line in lines)
    assert verify_export(lines).ok
    assert verify_workspace(acme.pk).ok
    call_command("verify_logs", workspace="acme", stdout=io.StringIO())


def test_another_workspace_keeps_its_tokens_and_the_console_session(deployment, alice, bob, globex):
    acme = deployment.acme
    team_services.add_member(
        workspace=globex, user=bob, role_key="member", actor=None, acting_member=None
    )
    globex_token = identity_services.issue_token(
        membership=_membership(globex, bob), name="globex", actor=bob
    ).token
    globex_oauth = oauth_sign_in(bob, oauth_app(alice), f"{deployment.base}/mcp/globex/prod")
    browser = Browser(deployment.base)
    browser.sign_in(bob.email)
    assert browser.http.get("/w/acme/").status_code == 200

    offboarding.suspend_member(membership=_membership(acme, bob), actor=alice)

    # The session stays for globex; acme answers as if it did not exist.
    assert browser.http.get("/w/acme/").status_code == 404
    assert browser.http.get("/w/globex/").status_code == 200
    assert ApiToken.objects.get(pk=globex_token.pk).revoked_at is None
    assert AccessToken.objects.filter(pk=globex_oauth["access"].pk).exists()
    assert RefreshToken.objects.get(pk=globex_oauth["refresh"].pk).revoked is None
    assert (
        ConfigChange.objects.get(action="member.suspend").detail["revoked"]["console_sessions"] == 0
    )


def test_reactivating_gives_the_membership_back_but_not_the_tokens(deployment, alice, bob):
    membership = _membership(deployment.acme, bob)
    old_token = deployment.token_for(bob)
    offboarding.suspend_member(membership=membership, actor=alice)
    offboarding.suspend_member(membership=membership, actor=alice)  # a second time: no change
    assert _mcp_status(deployment, old_token) == 401

    offboarding.reactivate_member(membership=_membership(deployment.acme, bob), actor=alice)

    assert _membership(deployment.acme, bob).active
    assert _mcp_status(deployment, old_token) == 401
    assert _mcp_status(deployment, deployment.token_for(bob)) == 200
    assert ConfigChange.objects.filter(action="member.suspend").count() == 1
    assert ConfigChange.objects.filter(action="member.reactivate").count() == 1


def test_a_suspended_member_gets_no_new_token(deployment, alice, bob, api):
    offboarding.suspend_member(membership=_membership(deployment.acme, bob), actor=alice)
    response = api.as_(alice).post(
        "/api/v1/workspaces/acme/tokens/", {"name": "again", "user": bob.email}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "not a member" in error(response)["detail"], response.content
    assert not ApiToken.objects.filter(user=bob, revoked_at__isnull=True).exists()


def test_removing_a_member_through_the_api_revokes_and_keeps_the_history(
    deployment, alice, bob, api
):
    gateway_token = deployment.token_for(bob)
    oauth = oauth_sign_in(bob, oauth_app(alice), f"{deployment.base}/mcp/acme/dev")
    assert _mcp_status(deployment, gateway_token) == 200
    flush(timeout=10)
    history = LogEntry.objects.filter(workspace=deployment.acme, user_id=bob.pk).count()
    membership = _membership(deployment.acme, bob)

    response = api.as_(alice).delete(f"/api/v1/workspaces/acme/members/{membership.pk}/")

    assert response.status_code == 204, response.content
    assert not Membership.everyone.filter(pk=membership.pk).exists()
    assert _mcp_status(deployment, gateway_token) == 401
    assert _mcp_status(deployment, oauth["secret"]) == 401
    assert RefreshToken.objects.get(pk=oauth["refresh"].pk).revoked is not None
    change = ConfigChange.objects.get(action="member.remove")
    assert change.detail["revoked"]["api_tokens"] == 1
    assert change.detail["revoked"]["oauth_access_tokens"] == 1
    flush(timeout=10)
    assert LogEntry.objects.filter(workspace=deployment.acme, user_id=bob.pk).count() == history
    assert verify_workspace(deployment.acme.pk).ok


def test_removing_the_last_owner_is_refused_and_revokes_nothing(deployment, alice, api):
    token = deployment.token_for(alice)
    membership = _membership(deployment.acme, alice)
    response = api.as_(alice).delete(f"/api/v1/workspaces/acme/members/{membership.pk}/")
    assert response.status_code == 400, response.content
    assert ApiToken.objects.get(digest=tokens.digest(token)).revoked_at is None
    assert _mcp_status(deployment, token) == 200


def test_suspending_the_last_active_owner_is_refused(acme, alice, bob):
    owner = _membership(acme, alice)
    with pytest.raises(ValidationFailed, match="last active owner"):
        offboarding.suspend_member(membership=owner, actor=None)
    owner.refresh_from_db()
    assert owner.active is True
    # With another active owner, the first may be suspended.
    other = _membership(acme, bob)
    other.role = Role.objects.for_workspace(acme).get(key="owner")
    other.save(update_fields=["role"])
    offboarding.suspend_member(membership=owner, actor=None)
    assert Membership.everyone.get(pk=owner.pk).active is False

"""Ending a connection revokes its tokens at the upstream's authorization server (RFC 7009,
tests/identities/oauth_upstream.py's /revoke): when the person disconnects, and when an admin
removes the assignment. A revocation that fails is logged and never stops the disconnect."""

import json
import logging

import httpx
import pytest

from core import crypto
from identities.models import UpstreamConnection, UpstreamOAuthClient
from identities.tasks import revoke_upstream_grants
from identities.upstream import revocation
from teams.models import ConfigChange
from tests.support.live import free_port


def _tokens(accounts, user) -> dict:
    return crypto.decrypt(accounts.connection_of(user).secret)


def _upstream_accepts(accounts, access_token: str) -> bool:
    probe = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    answer = httpx.post(
        accounts.upstream.url,
        json=probe,
        headers={
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json, text/event-stream",
        },
    )
    assert answer.status_code in (200, 400, 401), answer.text
    return answer.status_code != 401


def test_disconnecting_revokes_the_tokens_at_the_upstream(accounts, bob):
    browser = accounts.connect(bob)
    assert accounts.call(bob).content[0].text.startswith("bob|")
    tokens = _tokens(accounts, bob)
    assert _upstream_accepts(accounts, tokens["access_token"])
    client_id = UpstreamOAuthClient.objects.get(assignment=accounts.assignment).client_id

    accounts.disconnect(browser)

    revoked = accounts.upstream.revoke_requests
    assert [(r["token_type_hint"], r["token"]) for r in revoked] == [
        ("refresh_token", tokens["refresh_token"]),
        ("access_token", tokens["access_token"]),
    ]
    assert all(r["client_id"] == client_id for r in revoked)
    assert not _upstream_accepts(accounts, tokens["access_token"])
    assert tokens["refresh_token"] not in accounts.upstream.provider.refresh
    assert not UpstreamConnection.objects.filter(owner=bob).exists()
    assert ConfigChange.objects.filter(action="connection.disconnect").count() == 1
    result = accounts.call(bob)
    assert result.is_error and "not connected yet" in result.content[0].text


def test_a_failed_revocation_does_not_stop_the_disconnect(accounts, bob, caplog):
    browser = accounts.connect(bob)
    nowhere = f"http://127.0.0.1:{free_port()}/revoke"  # nothing listens there
    UpstreamOAuthClient.objects.filter(assignment=accounts.assignment).update(
        revocation_endpoint=nowhere
    )
    with caplog.at_level(logging.WARNING, logger="identities.upstream.revocation"):
        accounts.disconnect(browser)
    assert not UpstreamConnection.objects.filter(owner=bob).exists()
    warnings = [r.getMessage() for r in caplog.records]
    assert any("refresh_token was not revoked" in w for w in warnings), warnings
    assert any("access_token was not revoked" in w for w in warnings), warnings
    assert accounts.upstream.revoke_requests == []


@pytest.mark.parametrize("removed", ["assignment", "gateway", "server"])
def test_removing_what_a_connection_hangs_on_revokes_everyones_tokens(
    accounts, alice, bob, api, removed
):
    accounts.connect(alice)
    accounts.connect(bob)
    held = [_tokens(accounts, alice)["access_token"], _tokens(accounts, bob)["access_token"]]
    assert all(_upstream_accepts(accounts, token) for token in held)

    url = {
        "assignment": f"/api/v1/workspaces/acme/gateways/dev/assignments/{accounts.assignment.pk}/",
        "gateway": "/api/v1/workspaces/acme/gateways/dev/",
        "server": "/api/v1/workspaces/acme/servers/accounts/",
    }[removed]
    answer = api.as_(alice).delete(url)
    assert answer.status_code == 204, answer.content

    hints = [r["token_type_hint"] for r in accounts.upstream.revoke_requests]
    assert hints == ["refresh_token", "access_token"] * 2
    assert not any(_upstream_accepts(accounts, token) for token in held)
    assert not UpstreamConnection.objects.exists()


def test_the_queued_task_revokes_grants_that_travelled_as_json(accounts, bob):
    accounts.connect(bob)
    tokens = _tokens(accounts, bob)
    connection = UpstreamConnection.objects.select_related("assignment__oauth_client").get()
    grants = json.loads(json.dumps(revocation.grants_of([connection])))
    assert tokens["access_token"] not in json.dumps(grants)  # still encrypted on the queue

    assert revoke_upstream_grants.delay(grants).get() == 2
    assert not _upstream_accepts(accounts, tokens["access_token"])

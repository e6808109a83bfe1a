"""Gateway → upstream identities end to end: an SDK client calls through the live gateway to an
upstream that refuses requests without the right credentials and echoes the ones it received."""

import asyncio

import httpx2
import pytest
from django.db import connection
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import services as gateway_services
from identities.models import UpstreamCredential
from servers import services as server_services
from teams.models import ConfigChange


def test_a_service_account_bearer_token_is_presented(brokered, bob):
    brokered.use_scheme("service_account")
    brokered.set_credential(
        brokered.deployment.alice, {"shared": True, "kind": "bearer", "token": "service-token"}
    )
    names, result = brokered.call(bob)
    assert "ids__whoami" in names
    assert not result.is_error
    assert result.content[0].text == "Bearer service-token|-"


def test_custom_headers_are_presented(brokered, bob):
    brokered.use_scheme("service_account")
    body = {"shared": True, "kind": "headers", "headers": {"X-Api-Key": "key-123"}}
    brokered.set_credential(brokered.deployment.alice, body)
    _names, result = brokered.call(bob, mode="2026-07-28")
    assert result.content[0].text == "-|key-123"


def test_without_the_service_account_the_caller_is_told_why(brokered, bob):
    brokered.use_scheme("service_account")
    names, result = brokered.call(bob)
    # The upstream refuses anonymous requests, so its tools cannot be listed; a call names it.
    assert not [n for n in names if n.startswith("ids__")]
    assert "notes__echo" in names
    assert result.is_error
    text = result.content[0].text
    assert "'ids' needs a service account" in text
    assert f"/assignments/{brokered.assignment.pk}/credentials/" in text


def test_each_person_presents_their_own_manual_credential(brokered, alice, bob):
    brokered.use_scheme("manual")
    brokered.set_credential(alice, {"kind": "bearer", "token": "alice-token"})
    _names, result = brokered.call(alice)
    assert result.content[0].text == "Bearer alice-token|-"

    # Bob has not set his yet: a tool error with where to set it, nothing sent upstream.
    _names, result = brokered.call(bob)
    assert result.is_error
    assert "needs your own credential" in result.content[0].text
    assert brokered.credentials_url in result.content[0].text

    # Setting it works at once, without waiting for any cache to expire.
    brokered.set_credential(bob, {"kind": "bearer", "token": "Bearer bob-token"})
    names, result = brokered.call(bob)
    assert "ids__whoami" in names
    assert result.content[0].text == "Bearer bob-token|-"
    _names, result = brokered.call(alice)
    assert result.content[0].text == "Bearer alice-token|-"


def test_a_manual_assignment_falls_back_to_its_shared_credential(brokered, alice, bob):
    brokered.use_scheme("manual")
    brokered.set_credential(alice, {"shared": True, "kind": "bearer", "token": "service-token"})
    brokered.set_credential(alice, {"kind": "bearer", "token": "alice-token"})
    assert brokered.call(bob)[1].content[0].text == "Bearer service-token|-"
    assert brokered.call(alice)[1].content[0].text == "Bearer alice-token|-"


def test_replacing_disabling_and_deleting_take_effect_on_the_next_call(brokered, alice, bob):
    brokered.use_scheme("manual")
    first = brokered.set_credential(bob, {"kind": "bearer", "token": "alice-token"})
    assert brokered.call(bob)[1].content[0].text == "Bearer alice-token|-"
    again = brokered.set_credential(bob, {"kind": "bearer", "token": "bob-token"}, status=200)
    assert again["id"] == first["id"]
    assert brokered.call(bob)[1].content[0].text == "Bearer bob-token|-"

    url = f"{brokered.credentials_url}{first['id']}/"
    assert brokered.api.as_(bob).post(f"{url}disable/").status_code == 200
    assert brokered.call(bob)[1].is_error
    assert brokered.api.as_(bob).post(f"{url}enable/").status_code == 200
    assert brokered.call(bob)[1].content[0].text == "Bearer bob-token|-"
    assert brokered.api.as_(bob).delete(url).status_code == 204
    assert brokered.call(bob)[1].is_error


def test_oauth_client_credentials_fetch_a_token_once_and_reuse_it(brokered, alice, bob):
    brokered.use_scheme("service_account")
    body = {
        "shared": True,
        "kind": "client_credentials",
        "token_url": brokered.upstream.token_url,
        "client_id": "svc",
        "client_secret": "svc-secret",
        "scope": "read write",
    }
    brokered.set_credential(alice, body)
    before = len(brokered.upstream.token_requests)
    first = brokered.call(bob)[1].content[0].text
    second = brokered.call(alice)[1].content[0].text
    assert first.startswith("Bearer cc-")
    assert second == first
    requests = brokered.upstream.token_requests[before:]
    assert requests == [{"grant_type": "client_credentials", "scope": "read write"}]


def test_a_revoked_client_credentials_token_is_replaced(brokered, alice, bob):
    brokered.use_scheme("service_account")
    body = {
        "shared": True,
        "kind": "client_credentials",
        "token_url": brokered.upstream.token_url,
        "client_id": "svc",
        "client_secret": "svc-secret",
    }
    brokered.set_credential(alice, body)
    first = brokered.call(bob)[1].content[0].text
    # The authorization server revokes the token long before it would expire.
    brokered.upstream.issued.remove(first.split(" ")[1].split("|")[0])
    with pytest.raises(MCPError) as refused:
        brokered.call(bob)
    assert "HTTP 401" in refused.value.message
    second = brokered.call(bob)[1].content[0].text
    assert second.startswith("Bearer cc-") and second != first


def test_a_refused_client_secret_is_a_clear_error(brokered, alice, bob):
    brokered.use_scheme("service_account")
    body = {
        "shared": True,
        "kind": "client_credentials",
        "token_url": brokered.upstream.token_url,
        "client_id": "svc",
        "client_secret": "wrong",
    }
    brokered.set_credential(alice, body)
    with pytest.raises(MCPError) as refused:
        brokered.call(bob)
    assert refused.value.code == -32001
    assert "'ids' could not get a token: HTTP 401, invalid_client" in refused.value.message


def test_user_oauth_without_a_connection_is_refused_with_the_link(brokered, bob):
    brokered.use_scheme("user_oauth")
    _names, result = brokered.call(bob)
    assert result.is_error
    assert "which you have not connected yet" in result.content[0].text
    assert "/w/acme/connections/" in result.content[0].text


def test_the_clients_token_is_never_sent_upstream(brokered, bob):
    brokered.use_scheme("service_account")
    brokered.set_credential(
        brokered.deployment.alice, {"shared": True, "kind": "bearer", "token": "service-token"}
    )
    token = brokered.deployment.token_for(bob)

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        transport = streamable_http_client(brokered.deployment.url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            return await client.call_tool("ids__whoami", {})

    text = asyncio.run(scenario()).content[0].text
    assert token not in text
    assert text == "Bearer service-token|-"


def test_secrets_are_stored_encrypted_and_never_logged(brokered, alice, bob):
    brokered.use_scheme("manual")
    brokered.set_credential(alice, {"shared": True, "kind": "bearer", "token": "service-token"})
    answer = brokered.set_credential(bob, {"kind": "headers", "headers": {"X-Api-Key": "key-123"}})
    assert brokered.call(bob)[1].content[0].text == "-|key-123"
    flush(timeout=10)

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, hint, details FROM identities_upstreamcredential")
        rows = cursor.fetchall()
    assert len(rows) == 2
    for row in rows:
        stored = " ".join(str(value) for value in row)
        assert "service-token" not in stored and "key-123" not in stored
    assert all(row[0].startswith("f1:") for row in rows)
    assert "key-123" not in str(answer) and answer["hint"] == "X-Api-Key: ••••"

    changes = ConfigChange.objects.filter(action__startswith="credential.")
    assert changes.count() == 2
    assert all("service-token" not in str(c.detail) for c in changes)
    hops = LogEntry.objects.filter(hop="upstream.request", assignment_id=brokered.assignment.pk)
    assert hops.exists()
    for entry in hops:
        assert entry.identity_scheme == "manual"
        assert entry.detail == {"credential": "personal"}
        assert "key-123" not in str(entry.payload)
    assert UpstreamCredential.objects.get(owner=bob).last_used_at is not None


def test_other_methods_answer_a_json_rpc_error_with_where_to_connect(brokered, bob):
    brokered.use_scheme("manual")
    token = brokered.deployment.token_for(bob)

    async def scenario():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        transport = streamable_http_client(brokered.deployment.url, http_client=http)
        async with Client(transport, mode="legacy", cache=None) as client:
            with pytest.raises(MCPError) as refused:
                await client.read_resource("mcpgw://ids/notes://all")
            return refused.value

    error = asyncio.run(scenario())
    assert error.code == -32600
    assert "needs your own credential" in error.message
    # The console page to open, absolute; the message names the API too.
    pk = brokered.assignment.pk
    page = f"{brokered.deployment.base}/w/acme/connections/?assignment={pk}#manual-{pk}"
    assert error.data == {"connectUrl": page}
    assert page in error.message and brokered.credentials_url in error.message


def test_an_sse_upstream_gets_the_credential_on_its_stream_and_its_posts(brokered, alice, bob):
    sse = server_services.create_server(
        workspace=brokered.deployment.acme,
        name="ids-sse",
        url=brokered.upstream.sse_url,
        transport="sse",
        actor=alice,
    )
    gateway_services.assign_server(
        gateway=brokered.deployment.gateway,
        server=sse,
        namespace="old",
        identity_scheme="manual",
        actor=alice,
    )
    url = brokered.credentials_url.replace(
        f"/{brokered.assignment.pk}/", f"/{sse.assignments.get().pk}/"
    )
    response = brokered.api.as_(bob).post(url, {"kind": "bearer", "token": "bob-token"})
    assert response.status_code == 201, response.content
    names, result = brokered.call(bob, tool="old__whoami")
    assert "old__whoami" in names
    assert result.content[0].text == "Bearer bob-token|-"


def test_a_disabled_service_account_stops_being_presented(brokered, alice, bob):
    brokered.use_scheme("service_account")
    shared = brokered.set_credential(
        alice, {"shared": True, "kind": "bearer", "token": "service-token"}
    )
    assert brokered.call(bob)[1].content[0].text == "Bearer service-token|-"
    disabled = brokered.api.as_(alice).post(f"{brokered.credentials_url}{shared['id']}/disable/")
    assert disabled.status_code == 200
    _names, result = brokered.call(bob)
    assert result.is_error and "needs a service account" in result.content[0].text
    assert UpstreamCredential.objects.get(pk=shared["id"]).last_used_at is not None


def test_a_credential_no_key_opens_is_a_clear_error(brokered, bob, settings):
    brokered.use_scheme("manual")
    settings.CREDENTIALS_KEYS = ["the key in use when it was set"]
    brokered.set_credential(bob, {"kind": "bearer", "token": "bob-token"})
    # The keys were replaced without running rotate_credentials.
    settings.CREDENTIALS_KEYS = ["another key altogether"]
    with pytest.raises(MCPError) as refused:
        brokered.call(bob)
    assert refused.value.code == -32001
    assert "cannot be decrypted; set it again" in refused.value.message

"""The MCP endpoint end to end: real SDK clients, a live gateway, a live upstream."""

import asyncio

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import PaginatedRequestParams

from dataplane.http import request_origin
from gateways import services as gateway_services
from identities import services as identity_services
from servers import services as server_services
from tests.support.live import free_port
from tests.support.live_gateway import connect


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28", "auto"])
def test_both_eras_list_and_call_namespaced_curated_tools(deployment, bob, mode):
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, mode) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            echo = await client.call_tool("notes__echo", {"text": "hello"})
            add = await client.call_tool("notes__add", {"a": 2, "b": 3})
            prompts = [p.name for p in (await client.list_prompts()).prompts]
            resources = [str(r.uri) for r in (await client.list_resources()).resources]
            read = await client.read_resource("mcpgw://notes/notes://all")
            return tools, echo, add, prompts, resources, read

    tools, echo, add, prompts, resources, read = asyncio.run(scenario())
    assert "notes__echo" in tools and "notes__delete_note" in tools
    # The read-only assignment only shows tools annotated readOnlyHint.
    assert sorted(n for n in tools if n.startswith("ro__")) == ["ro__echo"]
    assert echo.content[0].text == "hello" and not echo.is_error
    assert add.content[0].text == "5"
    assert prompts == ["notes__greet", "ro__greet"]
    assert "mcpgw://notes/notes://all" in resources
    assert read.contents[0].text == "note one\nnote two"


def test_filtered_and_unknown_tools_are_refused_and_the_session_survives(deployment, bob):
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            with pytest.raises(MCPError) as filtered:
                await client.call_tool("ro__delete_note", {"note_id": 1})
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("nope__nothing", {})
            after = await client.call_tool("notes__echo", {"text": "still here"})
            return filtered.value, unknown.value, after

    filtered, unknown, after = asyncio.run(scenario())
    assert filtered.code == -32602 and "ro__delete_note" in filtered.message
    assert unknown.code == -32602
    assert after.content[0].text == "still here"


def test_the_clients_token_never_reaches_the_upstream(deployment, bob):
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            return await client.call_tool("notes__whoami", {})

    result = asyncio.run(scenario())
    assert token not in result.content[0].text
    assert result.content[0].text == "(none)"


def test_progress_is_relayed_to_the_caller(deployment, bob):
    token = deployment.token_for(bob)
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total, message))

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            return await client.call_tool(
                "notes__slow", {"steps": 3}, progress_callback=on_progress
            )

    result = asyncio.run(scenario())
    assert result.content[0].text == "done after 3"
    assert [p for p, _, _ in seen] == [1, 2, 3]


def test_it_requires_a_token(deployment):
    response = httpx.post(deployment.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'resource_metadata="http://' in challenge
    assert "/.well-known/oauth-protected-resource/mcp/acme/dev" in challenge


def test_a_malformed_or_revoked_token_is_refused(deployment, bob):
    bad = httpx.post(deployment.url, headers=deployment.headers("gth_notatoken"), json={})
    assert bad.status_code == 401
    token = deployment.token_for(bob)
    assert deployment.initialize(token)
    stored = bob.api_tokens.get()
    identity_services.revoke_token(token=stored, actor=bob)
    response = httpx.post(
        deployment.url,
        headers=deployment.headers(token),
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_token_for_another_gateway_is_refused(deployment, alice, bob):
    other = gateway_services.create_gateway(
        workspace=deployment.acme, slug="other", name="Other", actor=alice
    )
    token = deployment.token_for(bob, gateway=other)
    response = httpx.post(
        deployment.url,
        headers=deployment.headers(token),
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert response.status_code == 401


def _initialize(deployment, url, token) -> int:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    return httpx.post(url, headers=deployment.headers(token), json=body).status_code


def test_a_gateway_token_opens_its_gateway_and_no_other(deployment, alice, bob):
    other = gateway_services.create_gateway(
        workspace=deployment.acme, slug="other", name="Other", actor=alice
    )
    # bob may use `other` too: only the token's gateway keeps him out of it.
    gateway_services.provision_teams(gateway=other, team_slugs=["eng"], actor=alice)
    token = deployment.token_for(bob, gateway=deployment.gateway)
    assert _initialize(deployment, deployment.url, token) == 200
    assert _initialize(deployment, f"{deployment.base}/mcp/acme", token) == 200
    assert _initialize(deployment, f"{deployment.base}/mcp/acme/other", token) == 401
    # Without a gateway, it opens every gateway bob is provisioned to.
    everywhere = deployment.token_for(bob)
    assert _initialize(deployment, f"{deployment.base}/mcp/acme/other", everywhere) == 200


@pytest.mark.parametrize("kind", ["api", "connector", "scim"])
def test_only_gateway_tokens_open_mcp_urls(deployment, alice, kind):
    token = deployment.token_for(alice, kind=kind, scopes=["read"] if kind == "api" else [])
    assert _initialize(deployment, deployment.url, token) == 401
    assert _initialize(deployment, f"{deployment.base}/mcp/acme", token) == 401


def test_a_person_not_provisioned_gets_403(deployment, carol):
    token = deployment.token_for(carol)
    response = httpx.post(
        deployment.url,
        headers=deployment.headers(token),
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert response.status_code == 403
    assert "provisioned" in response.json()["error"]["message"]


def test_another_workspaces_gateway_is_404(deployment, bob, globex_gateway):
    token = deployment.token_for(bob)
    url = f"{deployment.base}/mcp/globex/prod"
    response = httpx.post(
        url, headers=deployment.headers(token), json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
    )
    assert response.status_code == 401  # a token of acme is not a credential for globex
    missing = httpx.post(
        f"{deployment.base}/mcp/acme/nope",
        headers=deployment.headers(token),
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert missing.status_code == 404


def test_sessions_are_required_checked_and_ended(deployment, bob):
    token = deployment.token_for(bob)
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    no_session = httpx.post(deployment.url, headers=deployment.headers(token), json=ping)
    assert no_session.status_code == 400
    forged = httpx.post(
        deployment.url, json=ping, headers=deployment.headers(token, **{"Mcp-Session-Id": "forged"})
    )
    assert forged.status_code == 404
    session_id = deployment.initialize(token)
    headers = deployment.headers(
        token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-06-18"}
    )
    assert httpx.post(deployment.url, headers=headers, json=ping).json()["result"] == {}
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(deployment.url, headers=headers, json=initialized).status_code == 202
    assert httpx.delete(deployment.url, headers=headers).status_code == 204
    assert httpx.post(deployment.url, headers=headers, json=ping).status_code == 404


def test_another_persons_session_is_404(deployment, alice, bob):
    session_id = deployment.initialize(deployment.token_for(bob))
    headers = deployment.headers(deployment.token_for(alice), **{"Mcp-Session-Id": session_id})
    response = httpx.post(
        deployment.url, headers=headers, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}
    )
    assert response.status_code == 404


def test_bad_input_gets_clear_errors(deployment, bob, settings):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token)
    headers = deployment.headers(token, **{"Mcp-Session-Id": session_id})
    garbage = httpx.post(deployment.url, headers=headers, content=b"{not json")
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == -32700
    batch = httpx.post(deployment.url, headers=headers, json=[{"jsonrpc": "2.0", "id": 1}])
    assert batch.status_code == 400 and "batch" in batch.json()["error"]["message"]
    unknown = httpx.post(
        deployment.url, headers=headers, json={"jsonrpc": "2.0", "id": 5, "method": "nope/nothing"}
    )
    assert unknown.json()["error"]["code"] == -32601
    bad_version = httpx.post(
        deployment.url,
        json={"jsonrpc": "2.0", "id": 6, "method": "ping"},
        headers={**headers, "MCP-Protocol-Version": "1999-01-01"},
    )
    assert bad_version.status_code == 400
    settings.MCP_MAX_BODY_BYTES = 1000
    huge = httpx.post(
        deployment.url,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "notes__echo", "arguments": {"text": "x" * 5000}},
        },
    )
    assert huge.status_code == 413 and "1000 byte" in huge.json()["error"]["message"]


def test_a_foreign_origin_is_refused(deployment, bob):
    token = deployment.token_for(bob)
    response = httpx.post(
        deployment.url,
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers=deployment.headers(token, Origin="http://evil.example"),
    )
    assert response.status_code == 403


def test_modern_requests_are_validated(deployment, bob):
    token = deployment.token_for(bob)
    headers = deployment.headers(
        token, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
    )
    missing_meta = httpx.post(
        deployment.url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    )
    assert missing_meta.status_code == 400
    assert missing_meta.json()["error"]["code"] == -32602
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    mismatch = httpx.post(
        deployment.url,
        headers={**headers, "Mcp-Method": "prompts/list"},
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta}},
    )
    assert mismatch.json()["error"]["code"] == -32020
    listed = httpx.post(
        deployment.url,
        headers=headers,
        json={"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta}},
    )
    result = listed.json()["result"]
    assert result["resultType"] == "complete"
    assert result["cacheScope"] in ("public", "private") and "ttlMs" in result
    assert "notes__echo" in [t["name"] for t in result["tools"]]


def test_configuration_changes_apply_on_the_next_request(deployment, alice, bob):
    token = deployment.token_for(bob)

    async def names():
        async with connect(deployment, token, "2026-07-28") as client:
            return sorted(t.name for t in (await client.list_tools()).tools)

    assert "notes__add" in asyncio.run(names())
    gateway_services.update_assignment(
        assignment=deployment.full, tool_mode="selected", tool_allow=["add"], actor=alice
    )
    assert [n for n in asyncio.run(names()) if n.startswith("notes__")] == ["notes__add"]
    gateway_services.unassign_server(assignment=deployment.readonly, actor=alice)
    assert asyncio.run(names()) == ["notes__add"]


def test_a_down_upstream_drops_out_and_calls_name_it(deployment, alice, bob):
    dead = server_services.create_server(
        workspace=deployment.acme,
        name="dead",
        url=f"http://127.0.0.1:{free_port()}/mcp",
        actor=alice,
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=dead, namespace="dead", actor=alice
    )
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            names = [t.name for t in (await client.list_tools()).tools]
            with pytest.raises(MCPError) as error:
                await client.call_tool("dead__anything", {})
            return names, error.value

    names, error = asyncio.run(scenario())
    assert "notes__echo" in names and not any(n.startswith("dead__") for n in names)
    assert "'dead'" in error.message and "unavailable" in error.message


def test_lists_paginate_with_gateway_cursors(deployment, bob, settings):
    settings.MCP_LIST_PAGE_SIZE = 2
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            first = await client.session.list_tools()
            second = await client.session.list_tools(
                params=PaginatedRequestParams(cursor=first.next_cursor)
            )
            return first, second

    first, second = asyncio.run(scenario())
    assert len(first.tools) == 2 and first.next_cursor
    assert {t.name for t in first.tools}.isdisjoint({t.name for t in second.tools})


def test_behind_a_tls_proxy_the_challenge_names_https(settings):
    headers = {"host": "gatehouse.example.com", "x-forwarded-proto": "https"}
    assert request_origin({"scheme": "http"}, headers) == "http://gatehouse.example.com"
    settings.PROXY_TLS_HEADER = "X-Forwarded-Proto"
    assert request_origin({"scheme": "http"}, headers) == "https://gatehouse.example.com"
    assert request_origin({"scheme": "http"}, {"host": "h"}) == "http://h"

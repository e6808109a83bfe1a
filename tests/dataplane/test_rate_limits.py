"""A gateway's rate limits on the live gateway, and refused callers folded in the audit log.

Limits are per minute and each test makes more calls than the limit in far less than a minute,
so the window never has to be waited out.
"""

import asyncio
import json

import httpx
import pytest
from django.test import override_settings
from mcp import Client
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import services as gateway_services
from tests.support.live_gateway import connect


def _limit(deployment, *limits):
    gateway_services.update_gateway(
        gateway=deployment.gateway, limits=list(limits), actor=deployment.alice
    )


def _call(deployment, token, session_id, n, tool="notes__echo", arguments=None):
    return httpx.post(
        deployment.url,
        headers=deployment.headers(token, **{"Mcp-Session-Id": session_id}),
        json={
            "jsonrpc": "2.0",
            "id": n,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments or {"text": f"call {n}"}},
        },
    )


def _entries(workspace, **filters):
    assert flush(timeout=10)
    return list(LogEntry.objects.for_workspace(workspace).filter(**filters).order_by("seq"))


def test_a_person_over_their_limit_is_refused_while_another_is_served(deployment, bob, dave):
    _limit(deployment, {"scope": "person", "rate": "20/minute"})
    bob_token, dave_token = deployment.token_for(bob), deployment.token_for(dave)
    bob_session = deployment.initialize(bob_token)

    answers = [_call(deployment, bob_token, bob_session, n) for n in range(30)]

    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) >= 10
    assert sum(a.status_code == 200 for a in answers) == 30 - len(refused)
    first = refused[0]
    assert 1 <= int(first.headers["retry-after"]) <= 60
    error = first.json()["error"]
    assert error["data"]["limit"] == "20/minute per person"
    assert error["data"]["retryAfter"] == int(first.headers["retry-after"])
    assert "20/minute per person" in error["message"]
    # Dave, on the same gateway, has his own count.
    dave_session = deployment.initialize(dave_token)
    served = _call(deployment, dave_token, dave_session, 99)
    assert served.status_code == 200, served.text
    assert served.json()["result"]["content"][0]["text"] == "call 99"
    logged = _entries(deployment.acme, hop="policy.limit_exceeded")
    assert len(logged) == len(refused)
    assert {e.user_email for e in logged} == {"bob@acme.test"}
    assert logged[0].outcome == "blocked"
    assert logged[0].tool == "notes__echo"
    assert logged[0].detail["limit"] == "20/minute per person"


def test_a_person_limit_counts_across_their_tokens(deployment, bob):
    _limit(deployment, {"scope": "person", "rate": "3/minute"})
    first, second = deployment.token_for(bob), deployment.token_for(bob)
    sessions = {first: deployment.initialize(first), second: deployment.initialize(second)}
    codes = [_call(deployment, t, sessions[t], n).status_code for n, t in enumerate([first] * 3)]
    assert codes == [200, 200, 200]
    assert _call(deployment, second, sessions[second], 4).status_code == 429


def test_a_token_limit_leaves_the_persons_other_tokens_alone(deployment, bob):
    _limit(deployment, {"scope": "token", "rate": "2/minute"})
    first, second = deployment.token_for(bob), deployment.token_for(bob)
    session = deployment.initialize(first)
    codes = [_call(deployment, first, session, n).status_code for n in range(3)]
    assert codes == [200, 200, 429]
    other = deployment.initialize(second)
    assert _call(deployment, second, other, 9).status_code == 200


def test_a_gateway_limit_counts_every_caller_together(deployment, bob, dave):
    _limit(deployment, {"scope": "gateway", "rate": "2/minute"})
    bob_token, dave_token = deployment.token_for(bob), deployment.token_for(dave)
    bob_session, dave_session = deployment.initialize(bob_token), deployment.initialize(dave_token)
    assert _call(deployment, bob_token, bob_session, 1).status_code == 200
    assert _call(deployment, dave_token, dave_session, 2).status_code == 200
    refused = _call(deployment, dave_token, dave_session, 3)
    assert refused.status_code == 429
    assert refused.json()["error"]["data"]["scope"] == "gateway"


def test_a_tool_limit_counts_calls_of_that_tool_only(deployment, bob):
    _limit(deployment, {"scope": "tool", "tool": "notes__add", "rate": "2/minute"})
    token = deployment.token_for(bob)
    session = deployment.initialize(token)
    adds = [
        _call(deployment, token, session, n, "notes__add", {"a": n, "b": 1}).status_code
        for n in range(3)
    ]
    assert adds == [200, 200, 429]
    assert _call(deployment, token, session, 7).status_code == 200  # echo is not limited


def test_the_sdk_client_sees_the_limit_by_name(deployment, bob):
    _limit(deployment, {"scope": "person", "rate": "3/minute"})
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "2026-07-28") as client:
            for n in range(2):
                await client.call_tool("notes__echo", {"text": str(n)})
            with pytest.raises(MCPError) as refused:
                for n in range(3):
                    await client.call_tool("notes__echo", {"text": str(n)})
            return refused.value

    error = asyncio.run(scenario())
    assert "3/minute per person" in str(error)


def test_on_the_legacy_stream_the_refusal_is_a_json_rpc_error_naming_the_limit(deployment, bob):
    # A tool limit: the SDK client sends other requests (tools/list) besides the calls.
    _limit(deployment, {"scope": "tool", "tool": "notes__echo", "rate": "2/minute"})
    token = deployment.token_for(bob)

    async def scenario():
        transport = sse_client(
            f"{deployment.url}/sse", headers={"Authorization": f"Bearer {token}"}
        )
        async with Client(transport, mode="legacy", cache=None) as client:
            await client.call_tool("notes__echo", {"text": "one"})
            await client.call_tool("notes__echo", {"text": "two"})
            with pytest.raises(MCPError) as refused:
                await client.call_tool("notes__echo", {"text": "three"})
            return refused.value

    error = asyncio.run(scenario())
    assert "2/minute for tool notes__echo" in str(error)
    assert "Retry in" in str(error)


def test_changing_the_limits_reaches_the_data_plane(deployment, bob):
    _limit(deployment, {"scope": "person", "rate": "1/minute"})
    token = deployment.token_for(bob)
    session = deployment.initialize(token)
    assert _call(deployment, token, session, 1).status_code == 200
    assert _call(deployment, token, session, 2).status_code == 429
    _limit(deployment)
    assert _call(deployment, token, session, 3).status_code == 200


# -- refused callers ------------------------------------------------------------------------------


def _bad_token(deployment, n, **headers):
    return httpx.post(
        deployment.url,
        headers={**deployment.headers(f"gth_not_a_real_token_{n}"), **headers},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )


def test_a_flood_of_bad_tokens_writes_a_row_per_window_with_the_count(deployment, api):
    # Two windows, long enough that the clock never ends one: changing the window's length
    # starts a new one, as time passing would.
    with override_settings(AUTH_DENIED_WINDOW_SECONDS=10**6):
        codes = {_bad_token(deployment, n).status_code for n in range(60)}
    with override_settings(AUTH_DENIED_WINDOW_SECONDS=10**6 + 1):
        codes |= {_bad_token(deployment, n).status_code for n in range(60, 100)}
    assert codes == {401}

    denied = _entries(deployment.acme, hop="auth.denied")
    assert len(denied) == 2
    assert all(e.detail["source"] == "127.0.0.1" for e in denied)
    assert "previous_window_count" not in denied[0].detail
    assert denied[1].detail["previous_window_count"] == 60
    assert denied[1].detail["reason"] == "invalid token"
    # The count is in the chained row, so the export carries it too.
    export = api.as_(deployment.alice).get("/api/v1/workspaces/acme/logs/export/?format=jsonl")
    rows = [json.loads(line) for line in b"".join(export.streaming_content).splitlines()]
    exported = [r["detail"] for r in rows if r["hop"] == "auth.denied"]
    assert exported[1]["previous_window_count"] == 60


def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(deployment):
    _bad_token(deployment, 1, **{"X-Forwarded-For": "203.0.113.9"})
    with override_settings(TRUSTED_PROXIES=["127.0.0.1"]):
        _bad_token(deployment, 2, **{"X-Forwarded-For": "203.0.113.9"})
    sources = [e.detail["source"] for e in _entries(deployment.acme, hop="auth.denied")]
    assert sources == ["127.0.0.1", "203.0.113.9"]

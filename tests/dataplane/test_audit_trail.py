"""Every hop of a call through the gateway is in the audit log, correlated."""

import asyncio

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from audit.log.payloads import resolve_entries
from audit.log.writer import flush
from audit.models import LogEntry
from tests.support.live_gateway import connect


def entries(workspace, **filters):
    assert flush(timeout=10)
    return list(LogEntry.objects.for_workspace(workspace).filter(**filters).order_by("seq"))


def test_a_tool_call_leaves_four_correlated_hops(deployment, bob):
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            return await client.call_tool("notes__echo", {"text": "audited"})

    asyncio.run(scenario())
    calls = entries(deployment.acme, tool="notes__echo")
    hops = [e.hop for e in calls]
    assert hops == ["client.request", "upstream.request", "upstream.response", "client.response"]
    assert len({e.correlation_id for e in calls}) == 1
    upstream = calls[1]
    assert upstream.upstream_tool == "echo" and upstream.server_name == "notes"
    assert all(e.user_email == "bob@acme.test" and e.client_name for e in calls)
    assert calls[3].outcome == "ok" and calls[3].latency_ms > 0
    # The answer is stored once, with the upstream's; readers put it back.
    assert calls[3].payload_state == "shared" and "audited" not in str(calls[3].payload)
    resolve_entries(calls)
    assert "audited" in str(calls[3].payload)
    assert token not in str([e.payload for e in LogEntry.objects.all()])
    assert entries(deployment.acme, hop="session.start")


def test_curation_refusals_and_denials_are_logged(deployment, bob, carol):
    token = deployment.token_for(bob)

    async def scenario():
        async with connect(deployment, token, "legacy") as client:
            with pytest.raises(MCPError):
                await client.call_tool("ro__delete_note", {"note_id": 3})

    asyncio.run(scenario())
    filtered = entries(deployment.acme, hop="policy.tool_filtered")
    assert [e.tool for e in filtered] == ["ro__delete_note"]
    assert filtered[0].outcome == "blocked"
    refused = httpx.post(
        deployment.url,
        headers=deployment.headers(deployment.token_for(carol)),
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert refused.status_code == 403
    denied = entries(deployment.acme, hop="auth.denied")
    assert [e.user_email for e in denied] == ["carol@acme.test"]

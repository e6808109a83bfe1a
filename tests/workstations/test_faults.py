"""What a caller sees when the connector or the workstation's server goes away mid-call."""

import asyncio
import time

import pytest
from mcp.shared.exceptions import MCPError

from tests.workstations.conftest import run


def _call_while(personal, token, during, tool="files__wait", arguments=None):
    """Start a call, run `during()` once it is under way; (outcome, seconds it took)."""

    async def scenario():
        async with personal.client(token) as client:
            await client.call_tool("files__whoami", {})  # the session is open
            call = asyncio.create_task(client.call_tool(tool, arguments or {"seconds": 20}))
            await asyncio.sleep(0.5)
            started = time.monotonic()
            await asyncio.to_thread(during)
            try:
                outcome = await call
            except MCPError as exc:
                outcome = exc
            took = time.monotonic() - started
            after = await client.call_tool("files__whoami", {})
            return outcome, took, after

    return run(scenario())


def test_a_connector_lost_mid_call_fails_the_call_at_once(personal, bob):
    connector = personal.connector(bob, mark="bob-laptop")
    token = personal.token_for(bob)
    replacement = []

    def drop_and_return():
        connector.stop()
        replacement.append(personal.connector(bob, mark="bob-desktop", token=connector.token))

    outcome, took, after = _call_while(personal, token, drop_and_return)

    assert isinstance(outcome, MCPError)
    assert "connector went away" in str(outcome)
    assert took < 10  # the call's timeout is 20 s and more
    # The MCP session still works: the next call opens a session on the new connector.
    assert after.content[0].text.startswith("bob-desktop ")


def test_a_server_that_exits_mid_call_fails_it_and_the_next_call_starts_another(personal, bob):
    connector = personal.connector(bob, mark="bob-laptop")
    token = personal.token_for(bob)
    first = personal.call(token).content[0].text

    outcome, took, after = _call_while(
        personal, token, lambda: None, tool="files__die", arguments={}
    )

    assert isinstance(outcome, MCPError)
    assert "stopped" in str(outcome)
    assert took < 5
    again = after.content[0].text
    assert again.startswith("bob-laptop ") and again != first  # another process
    assert len(connector.started) == 2


def test_a_reply_past_the_bound_is_refused(personal, bob, settings):
    settings.UPSTREAM_MAX_REPLY_BYTES = 4096
    personal.connector(bob, mark="bob-laptop")
    token = personal.token_for(bob)

    with pytest.raises(MCPError, match="exceeds 4096 bytes"):
        personal.call(token, "files__big", {"size": 20000})
    assert personal.call(token, "files__big", {"size": 10}).content[0].text == "x" * 10


def test_elicitation_from_the_workstation_reaches_the_client_and_back(personal, bob):
    personal.connector(bob, mark="bob-laptop")
    asked = []

    async def on_elicit(context, params):
        from mcp_types import ElicitResult

        asked.append(params.message)
        return ElicitResult(action="accept", content={"ok": True})

    result = personal.call(
        bob, "files__confirm", {"question": "Delete it?"}, elicitation_callback=on_elicit
    )

    assert asked == ["Delete it?"]
    assert result.content[0].text == "confirmed: True"


def test_a_silent_connector_is_closed(personal, bob, settings):
    settings.WORKSTATION_HEARTBEAT_SECONDS = 0.3
    connector = personal.connector(bob, mark="bob-laptop", start=False)
    connector.answer_pings = False
    connector.start()
    # The fake connector sends nothing of its own after hello: three intervals and it is gone.
    assert connector.wait_closed(10) == 4408

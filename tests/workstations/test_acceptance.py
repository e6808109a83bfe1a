"""Workstation servers end to end: `gatehouse-connect` as a real process on each person's
workstation, the platform served on loopback, and MCP clients calling through gateway `acme/dev`.

The workstation server is tests/workstations/whoami_stdio_server.py; each workstation exports its
own WHOAMI_LABEL (the server's `env_keys`), so an answer shows whose machine served the call.
"""

import asyncio
import json
import sys
import time
import uuid
from contextlib import asynccontextmanager

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CreateMessageResult, ElicitResult, TextContent

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import services as gateway_services
from identities.models import Connector
from servers import services as server_services
from teams.models import ConfigChange
from tests.support.live_gateway import run_client
from tests.workstations.conftest import add_workstation_server
from tests.workstations.hostile_platform import HostilePlatform
from tests.workstations.workstation import WHOAMI_SERVER, wait_until

# Errors must come from the platform noticing the loss, long before the gateway's own timeout
# (MCP_UPSTREAM_TIMEOUT_SECONDS, 60 s): the socket of a killed process closes at once.
LOSS_NOTICED_WITHIN = 15.0


@asynccontextmanager
async def mcp_session(url, token, **options):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=90)
    transport = streamable_http_client(url, http_client=http)
    async with Client(transport, mode="legacy", cache=None, **options) as client:
        yield client


def call(url, token, tool, arguments=None, **options):
    """One tools/call in a session of its own: its CallToolResult, or the MCPError it raised."""

    async def scenario():
        async with mcp_session(url, token, **options) as client:
            return await settle(client.call_tool(tool, arguments or {}))

    return run_client(scenario())


def wait_for_tool(url, token, tool, *, timeout=60.0):
    """Poll tools/list until the caller sees `tool`, as a client that lists before it calls.

    A workstation server's first catalog comes from a child the connector starts cold; a list
    answers without it after UPSTREAM_LIST_DEADLINE_SECONDS and the gateway fetches on."""

    async def scenario():
        async with mcp_session(url, token) as client:
            deadline = time.monotonic() + timeout
            while True:
                names = {t.name for t in (await client.list_tools()).tools}
                if tool in names:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"{tool} not listed after {timeout}s: {sorted(names)}")
                await asyncio.sleep(0.2)

    run_client(scenario())


def text_of(result) -> str:
    return "".join(part.text for part in result.content if isinstance(part, TextContent))


def outcome(result) -> tuple[bool, str]:
    """(failed, text): of a call's result, or of the JSON-RPC error it raised."""
    if isinstance(result, MCPError):
        return True, result.error.message
    return bool(result.is_error), text_of(result)


def answer_of(result) -> str:
    failed, text = outcome(result)
    assert not failed, text
    return text


async def settle(awaitable):
    try:
        return await awaitable
    except MCPError as error:
        return error


def test_each_person_reaches_only_their_own_workstation(
    deployment, who_server, bob, dave, erin, workstations
):
    for person in (bob, dave):
        label = f"{person.email}'s laptop"
        workstations(person, allow=["who"], env={"WHOAMI_LABEL": label}).start(serving="who")
        wait_for_tool(deployment.url, deployment.token_for(person), "who__whoami")

    for round_ in range(2):
        for person in (bob, dave):
            answer = call(deployment.url, deployment.token_for(person), "who__whoami")
            assert answer_of(answer) == f"{person.email}'s laptop", f"round {round_}"

    missing = call(deployment.url, deployment.token_for(erin), "who__whoami")
    failed, message = outcome(missing)
    assert failed and not isinstance(missing, MCPError), "not a tool error"
    assert "gatehouse-connect" in message and "--allow who" in message, message


def test_a_shared_workstation_server_serves_everyone_the_gateway_lets_through(
    deployment, bob, dave, workstations
):
    add_workstation_server(deployment, name="onprem", namespace="onprem", scope="shared")
    # The owner's role holds servers.deploy_workstation, which serving a shared server needs.
    workstations(
        deployment.alice, allow=["onprem"], env={"WHOAMI_LABEL": "the office server"}
    ).start(serving="onprem")
    wait_for_tool(deployment.url, deployment.token_for(bob), "onprem__whoami")

    for person in (bob, dave):
        answer = call(deployment.url, deployment.token_for(person), "onprem__whoami")
        assert answer_of(answer) == "the office server"


def test_a_call_on_another_worker_is_served_and_its_questions_reach_the_client(
    deployment, who_server, bob, two_workers, workstations
):
    first, second = two_workers
    worker_a = first.removesuffix("/mcp/acme/dev")
    workstations(
        bob,
        allow=["who"],
        env={"WHOAMI_LABEL": "bob on worker A"},
        platform=worker_a,
        shares_cache=False,
    ).start(serving="who")
    token = deployment.token_for(bob)
    wait_for_tool(second, token, "who__whoami")
    asked = []

    async def on_sample(context, params):
        asked.append(("sample", params.messages[0].content.text))
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text="forty-two"), model="m"
        )

    async def on_elicit(context, params):
        asked.append(("elicit", params.message))
        return ElicitResult(action="accept", content={"answer": "yes"})

    async def scenario():
        async with mcp_session(
            second, token, sampling_callback=on_sample, elicitation_callback=on_elicit
        ) as client:
            who = await settle(client.call_tool("who__whoami", {}))
            sampled = await settle(
                client.call_tool("who__ask", {"question": "meaning?", "how": "sample"})
            )
            elicited = await settle(
                client.call_tool("who__ask", {"question": "ship?", "how": "elicit"})
            )
            return who, sampled, elicited

    who, sampled, elicited = run_client(scenario())
    assert answer_of(who) == "bob on worker A"
    assert answer_of(sampled) == "model said forty-two"
    assert answer_of(elicited) == "user said yes"
    assert asked == [("sample", "meaning?"), ("elicit", "ship?")]


def test_a_killed_connector_fails_the_call_and_a_restarted_one_serves_the_next(
    deployment, who_server, bob, workstations
):
    laptop = workstations(bob, allow=["who"], env={"WHOAMI_LABEL": "bob's laptop"})
    laptop.start(serving="who")
    token = deployment.token_for(bob)
    wait_for_tool(deployment.url, token, "who__slow")
    timings = {}

    async def scenario():
        progressed = asyncio.Event()

        async def on_progress(progress, total, message):
            progressed.set()

        async with mcp_session(deployment.url, token) as client:
            slow = asyncio.create_task(
                settle(
                    client.call_tool(
                        "who__slow", {"seconds": 120, "steps": 240}, progress_callback=on_progress
                    )
                )
            )
            # The call is running on the workstation once its first progress arrives.
            await asyncio.wait_for(progressed.wait(), 30)
            killed_at = time.monotonic()
            await asyncio.to_thread(laptop.kill)
            lost = await asyncio.wait_for(slow, 60)
            timings["error_after"] = time.monotonic() - killed_at
            # Nothing is done in the console: the connector is only started again.
            await asyncio.to_thread(laptop.start, serving="who")
            again = await settle(client.call_tool("who__whoami", {}))
            return lost, again

    lost, again = run_client(scenario())
    failed, message = outcome(lost)
    assert failed, f"the call outlived its connector: {message}"
    assert timings["error_after"] < LOSS_NOTICED_WITHIN, timings
    assert answer_of(again) == "bob's laptop"


def test_a_crashed_server_fails_its_call_and_the_next_call_starts_it_again(
    deployment, who_server, bob, workstations
):
    workstations(bob, allow=["who"], env={"WHOAMI_LABEL": "bob's laptop"}).start(serving="who")
    token = deployment.token_for(bob)
    wait_for_tool(deployment.url, token, "who__crash")

    async def scenario():
        async with mcp_session(deployment.url, token) as client:
            before = await settle(client.call_tool("who__whoami", {}))
            crashed = await asyncio.wait_for(settle(client.call_tool("who__crash", {})), 30)
            again = await settle(client.call_tool("who__whoami", {}))
            return before, crashed, again

    before, crashed, again = run_client(scenario())
    assert answer_of(before) == "bob's laptop"
    failed, message = outcome(crashed)
    assert failed, f"a call whose server exited did not fail: {message}"
    assert "Unknown tool" not in message
    assert answer_of(again) == "bob's laptop"


def test_the_workstation_refuses_what_it_did_not_allow_and_never_runs_it(
    deployment, who_server, bob, workstations, tmp_path
):
    marker = tmp_path / "the-platform-ran-this"
    make_marker = ["-c", f"open({str(marker)!r}, 'w').close()"]
    # Offered by the platform, never allowed on the workstation.
    add_workstation_server(deployment, name="intruder", namespace="intruder", args=make_marker)
    laptop = workstations(bob, allow=["who"], env={"WHOAMI_LABEL": "bob's laptop"})
    connector = laptop.start(serving="who").live_connector("who")
    assert connector.servers == ["who"]
    assert set(laptop.approved()) == {"who"}
    token = deployment.token_for(bob)
    wait_for_tool(deployment.url, token, "who__whoami")
    assert answer_of(call(deployment.url, token, "who__whoami")) == "bob's laptop"

    # The platform changes what `who` runs: the workstation approved another command line.
    server_services.update_server(server=who_server, args=make_marker, actor=deployment.alice)
    changed = call(deployment.url, token, "who__whoami")
    intruding = call(deployment.url, token, "intruder__whoami")

    assert outcome(changed)[0], outcome(changed)
    assert outcome(intruding)[0], outcome(intruding)
    # The platform did ask for the changed command, and the workstation said no.
    wait_until(lambda: "refused who" in laptop.output(), what="the connector's refusal")
    assert not marker.exists(), "the workstation ran a command it never allowed"
    assert laptop.approved()["who"]["args"] == [str(WHOAMI_SERVER)]


def test_a_hostile_platform_cannot_make_the_workstation_run_anything_else(
    deployment, bob, workstations, tmp_path
):
    marker = tmp_path / "the-platform-ran-this"
    make_marker = [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    who = {"name": "who", "command": sys.executable, "args": [str(WHOAMI_SERVER)]}
    intruder = {"name": "intruder", "command": make_marker[0], "args": make_marker[1:]}

    async def script(tunnel):
        hello = await tunnel.receive("hello")
        await tunnel.send(welcome(offered=[who, intruder], serving=[]))
        # `--allow who` approves the offer of `who` and says hello again with it.
        again = await tunnel.receive("hello")
        await tunnel.send(welcome(offered=[who, intruder], serving=["who"]))
        asked = {
            "never-allowed": intruder,
            "changed-command": {**who, "command": make_marker[0], "args": make_marker[1:]},
            "as-allowed": who,
        }
        answers = {}
        for sid, server in asked.items():
            await tunnel.send({"type": "open", "session": sid, "server": server})
            answers[sid] = await next_of(tunnel, sid)
        await tunnel.send({"type": "close", "session": "as-allowed"})
        return tunnel.authorization, hello, again, answers

    platform = HostilePlatform(script).start()
    token = "gth_a-token-the-hostile-platform-reads"
    workstations(bob, allow=["who"], platform=platform.url, token=token).start()
    authorization, hello, again, answers = platform.outcome()

    assert authorization == f"Bearer {token}"
    assert (hello["servers"], again["servers"]) == ([], ["who"])
    assert answers["never-allowed"]["type"] == "closed"
    assert "not allowed" in answers["never-allowed"]["reason"]
    assert answers["changed-command"]["type"] == "closed"
    reason = answers["changed-command"]["reason"]
    assert "its command changed since it was allowed" in reason
    # A change is approved on the workstation only: the platform is not told how to force it.
    assert "--allow" not in reason
    # The same connector does run what was allowed: the refusals above are its decision.
    assert answers["as-allowed"]["type"] == "opened"
    assert not marker.exists(), "the workstation ran a command it never allowed"


def welcome(*, offered, serving):
    return {
        "type": "welcome",
        "connector": 1,
        "heartbeat_seconds": 15,
        "serving": serving,
        "offered": [{"env_keys": [], "url": "", "scope": "personal", **s} for s in offered],
    }


async def next_of(tunnel, sid):
    """`opened` or `closed`, whichever the connector answers an `open` with."""
    while True:
        frame = json.loads(await asyncio.wait_for(tunnel.ws.recv(), 20))
        if frame.get("type") == "ping":
            await tunnel.send({"type": "pong"})
        elif frame.get("session") == sid and frame.get("type") in ("opened", "closed"):
            return frame


def test_the_platform_sees_no_environment_but_the_exported_keys(
    deployment, who_server, bob, workstations
):
    secret = f"never-leaves-{uuid.uuid4().hex}"
    laptop = workstations(
        bob,
        allow=["who"],
        env={"WHOAMI_LABEL": "bob's laptop", "SECRET_NOT_EXPORTED": secret},
    )
    laptop.start(serving="who")
    token = deployment.token_for(bob)
    wait_for_tool(deployment.url, token, "who__env_names")

    listed = answer_of(call(deployment.url, token, "who__env_names"))
    assert "WHOAMI_LABEL" in listed
    assert "SECRET_NOT_EXPORTED" not in listed
    assert answer_of(call(deployment.url, token, "who__whoami")) == "bob's laptop"
    laptop.stop()
    assert flush(timeout=10)

    everything = json.dumps(
        [
            list(LogEntry.objects.values()),
            list(Connector.objects.values()),
            list(ConfigChange.objects.values()),
        ],
        default=str,
    )
    assert LogEntry.objects.filter(server_name="who").exists()
    assert secret not in everything
    assert "SECRET_NOT_EXPORTED" not in everything


def test_every_hop_of_a_workstation_call_is_logged_and_names_the_connector(
    deployment, who_server, bob, workstations
):
    laptop = workstations(bob, allow=["who"], env={"WHOAMI_LABEL": "bob's laptop"})
    connector = laptop.start(serving="who").live_connector("who")
    token = deployment.token_for(bob)
    wait_for_tool(deployment.url, token, "who__whoami")
    assert answer_of(call(deployment.url, token, "who__whoami")) == "bob's laptop"
    assert flush(timeout=10)

    entries = LogEntry.objects.filter(
        workspace=deployment.acme, tool="who__whoami", rpc_method="tools/call"
    )
    by_call = {}
    for entry in entries:
        by_call.setdefault(entry.correlation_id, []).append(entry)
    assert len(by_call) == 1, by_call
    hops = {entry.hop: entry for entry in next(iter(by_call.values()))}
    assert {"client.request", "upstream.request", "upstream.response", "client.response"} <= set(
        hops
    )
    assert connector.host_name
    for hop in ("upstream.request", "upstream.response"):
        assert hops[hop].detail.get("connector") == {
            "id": connector.pk,
            "host": connector.host_name,
        }, hops[hop].detail

    laptop.stop()
    wait_until(
        lambda: ConfigChange.objects.filter(
            workspace=deployment.acme, action="connector.disconnected"
        ).exists(),
        what="the admin-log row of the disconnection",
    )
    assert ConfigChange.objects.filter(
        workspace=deployment.acme, action="connector.connected", actor=bob
    ).exists()


def test_an_http_server_on_the_workstations_network_is_reached_through_the_connector(
    deployment, upstream_url, bob, workstations
):
    # The SDK server stands for a service on the workstation's network: the connector relays
    # each message to it over Streamable HTTP, and the platform only ever talks to the socket.
    server = server_services.create_server(
        workspace=deployment.acme,
        name="lan",
        kind="workstation",
        url=upstream_url,
        actor=deployment.alice,
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace="lan", actor=deployment.alice
    )
    connector = workstations(bob, allow=["lan"]).start(serving="lan").live_connector("lan")
    token = deployment.token_for(bob)
    wait_for_tool(deployment.url, token, "lan__echo")

    assert answer_of(call(deployment.url, token, "lan__echo", {"text": "over the lan"})) == (
        "over the lan"
    )
    assert flush(timeout=10)
    response = LogEntry.objects.get(
        workspace=deployment.acme, tool="lan__echo", hop="upstream.response"
    )
    assert response.detail.get("connector") == {"id": connector.pk, "host": connector.host_name}


@pytest.fixture(autouse=True)
def _connector_installed():
    """The connector is its own package (connector/), installed beside the platform."""
    try:
        import gatehouse_connect  # noqa: F401
    except ImportError:
        pytest.fail(f"gatehouse_connect is not installed for {sys.executable}")

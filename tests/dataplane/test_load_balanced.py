"""Two hosts behind a load balancer share nothing but the database and Redis.

Two uvicorn workers, each with a var directory of its own (as on two hosts), behind a balancer
that sends each new connection to the next worker with no stickiness. An SDK client opens a
session and calls tools on both; an upstream's elicitation goes out on one worker's stream and
its answer comes back through the other; a call running on one worker is cancelled by a
notification sent to the other; a 2026-07-28 client's answer to a handshake upstream's question
reaches the worker that holds the upstream call.
"""

import asyncio
import time
from urllib.parse import urlsplit

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from gateways import services as gateway_services
from servers import services as server_services
from tests.support.processes import start_asgi_worker
from tests.support.round_robin import RoundRobin

PATH = "/mcp/acme/dev"


@pytest.fixture
def hosts(deployment, workers_env, tmp_path):
    """The two workers' base URLs, and the balancer in front of them."""
    workers = []
    balancer = None
    try:
        for host in ("host-a", "host-b"):
            env = {**workers_env, "GATEHOUSE_VAR_DIR": str(tmp_path / host)}
            workers.append(start_asgi_worker(env))
        bases = [base for _, base in workers]
        balancer = RoundRobin([(urlsplit(b).hostname, urlsplit(b).port) for b in bases]).start()
        yield bases, balancer
    finally:
        if balancer is not None:
            balancer.stop()
        for process, _ in workers:
            process.stop()


def test_a_session_and_its_relayed_question_cross_the_balancer(deployment, bob, hosts):
    _, balancer = hosts
    token = deployment.token_for(bob)
    crossed = []

    async def on_elicit(context, params):
        # The call's stream is the newest connection; its answer goes to the other worker.
        call_worker = balancer.connections[-1]
        balancer.send_next_to(1 - call_worker)
        crossed.append((params.message, call_worker, len(balancer.connections)))
        return ElicitResult(action="accept", content={"ok": True})

    async def scenario():
        # A fresh connection per request, so requests go round the workers.
        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx2.Limits(max_keepalive_connections=0),
        )
        transport = streamable_http_client(f"{balancer.url}{PATH}", http_client=http)
        async with Client(
            transport, mode="legacy", cache=None, elicitation_callback=on_elicit
        ) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            echoes = [
                (await client.call_tool("notes__echo", {"text": f"call {n}"})).content[0].text
                for n in range(4)
            ]
            confirmed = await client.call_tool("notes__confirm", {"question": "Ship it?"})
            return names, echoes, confirmed.content[0].text

    names, echoes, confirmed = asyncio.run(scenario())
    assert "notes__echo" in names
    assert echoes == [f"call {n}" for n in range(4)]
    assert confirmed == "confirmed: True"
    [(message, call_worker, seen)] = crossed
    assert message == "Ship it?"
    # The answer to the question went to the worker that was not running the call.
    assert balancer.connections[seen] == 1 - call_worker


def test_a_call_is_cancelled_by_a_notification_sent_to_the_other_worker(deployment, bob, hosts):
    bases, balancer = hosts
    token = deployment.token_for(bob)
    headers = {**deployment.headers(token), "Accept": "application/json"}

    def post(url, body, extra=None):
        with httpx.Client(timeout=30) as http:
            return http.post(url, headers={**headers, **(extra or {})}, json=body)

    init = post(
        f"{balancer.url}{PATH}",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "balanced", "version": "1"},
            },
        },
    )
    assert init.status_code == 200, init.text
    session = {
        "Mcp-Session-Id": init.headers["mcp-session-id"],
        "MCP-Protocol-Version": "2025-06-18",
    }

    def upstream_state() -> str:
        # Asked of a worker directly, so the balancer's turns stay the test's.
        body = {
            "jsonrpc": "2.0",
            "id": 99,
            "method": "tools/call",
            "params": {"name": "notes__was_cancelled", "arguments": {}},
        }
        reply = post(f"{bases[0]}{PATH}", body, session)
        return reply.json()["result"]["content"][0]["text"]

    async def scenario():
        balancer.send_next_to(0)
        async with httpx.AsyncClient(timeout=30) as http:
            call = asyncio.ensure_future(
                http.post(
                    f"{balancer.url}{PATH}",
                    headers={**headers, **session},
                    json={
                        "jsonrpc": "2.0",
                        "id": 7,
                        "method": "tools/call",
                        "params": {"name": "notes__wait", "arguments": {"seconds": 20}},
                    },
                )
            )
            deadline = time.monotonic() + 10
            while await asyncio.to_thread(upstream_state) != "waiting":
                assert time.monotonic() < deadline, "the call never reached the upstream"
            balancer.send_next_to(1)
            cancelled = await asyncio.to_thread(
                post,
                f"{balancer.url}{PATH}",
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": 7, "reason": "changed my mind"},
                },
                session,
            )
            return cancelled, await asyncio.wait_for(call, timeout=10)

    cancelled, answer = asyncio.run(scenario())
    assert cancelled.status_code == 202
    assert answer.json()["error"]["code"] == -32800
    # The call went to the first worker and the cancellation to the second.
    assert balancer.connections[-2:] == [0, 1]


def test_a_modern_clients_answer_reaches_the_worker_holding_the_upstream_call(
    deployment, alice, bob, hosts, upstream_servers
):
    _, balancer = hosts
    url = upstream_servers.start("era_server.py", "--era", "handshake")
    server = server_services.create_server(
        workspace=deployment.acme, name="era-handshake", url=url, actor=alice
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace="hs", actor=alice
    )
    token = deployment.token_for(bob)
    asked_by = []

    async def on_elicit(context, params):
        # input_required came back on the newest connection; the retry goes to the other worker.
        call_worker = balancer.connections[-1]
        balancer.send_next_to(1 - call_worker)
        asked_by.append((call_worker, len(balancer.connections)))
        return ElicitResult(action="accept", content={"name": "ada"})

    async def scenario():
        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx2.Limits(max_keepalive_connections=0),
        )
        transport = streamable_http_client(f"{balancer.url}{PATH}", http_client=http)
        async with Client(
            transport, mode="2026-07-28", cache=None, elicitation_callback=on_elicit
        ) as client:
            result = await client.call_tool("hs__ask_form", {"question": "Name?"})
            return result.content[0].text

    assert asyncio.run(scenario()) == "form: ada"
    [(call_worker, seen)] = asked_by
    # The answer went to the worker that was not holding the upstream call.
    assert balancer.connections[seen] == 1 - call_worker

"""Tasks (`io.modelcontextprotocol/tasks`, SEP-2663) through the gateway, end to end.

The upstream is tests/upstreams/tasks_server.py (2026-07-28, SDK `Extension`): `report` completes
with a secret in its text, `interview` asks for a name through `inputRequests`, `long_job` runs
until cancelled. Clients are SDK clients that declare the extension (a `ClientExtension` whose
claim follows the task), and a handshake-era client that declares it at `initialize`.
"""

import asyncio
import contextlib
from typing import Any, Literal

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Request, RequestParams, Result
from pydantic import Field, TypeAdapter

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import services as gateway_services
from rules import services as rule_services
from servers import services as server_services
from tests.support.live_gateway import run_client

TASKS = "io.modelcontextprotocol/tasks"
SECRET = "ghp_" + "Tk4" * 12
MODERN = "2026-07-28"
_ANY = TypeAdapter(dict[str, Any])


class TaskIdParams(RequestParams):
    task_id: str = Field(alias="taskId")


class TaskUpdateParams(TaskIdParams):
    input_responses: dict[str, Any] = Field(alias="inputResponses")


class GetTask(Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class UpdateTask(Request[TaskUpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class CancelTask(Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class CreatedTask(Result):
    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str


async def get_task(session, task_id: str) -> dict:
    return await session.send_request(GetTask(params=TaskIdParams(taskId=task_id)), _ANY)


async def follow(session, task_id: str, name: str = "Ada") -> dict:
    """Poll a task to its end, answering what it asks with `name`."""
    for _ in range(200):
        task = await get_task(session, task_id)
        if task["status"] == "input_required":
            responses = {
                key: {"action": "accept", "content": {"name": name}}
                for key in task["inputRequests"]
            }
            params = TaskUpdateParams(taskId=task_id, inputResponses=responses)
            await session.send_request(UpdateTask(params=params), _ANY)
        elif task["status"] != "working":
            return task
        await asyncio.sleep(0.05)
    raise AssertionError("the task never ended")


class Tasks(ClientExtension):
    """The client side of the extension: a task answer is followed to its result."""

    identifier = TASKS

    def __init__(self):
        self.seen: list[dict] = []

    def claims(self):
        return (ResultClaim(result_type="task", model=CreatedTask, resolve=self._resolve),)

    async def _resolve(self, created: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        task = await follow(ctx.session, created.task_id)
        self.seen.append(task)
        assert task["status"] == "completed", task
        return CallToolResult.model_validate(task["result"])


@pytest.fixture
def jobs(deployment, upstream_servers):
    """The deployment's gateway with the task-capable upstream assigned as `jobs`."""
    server = server_services.create_server(
        workspace=deployment.acme,
        name="jobs",
        url=upstream_servers.start("tasks_server.py"),
        actor=deployment.alice,
    )
    deployment.jobs = gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace="jobs", actor=deployment.alice
    )
    return deployment


@contextlib.asynccontextmanager
async def modern_client(deployment, token, url=None, **options):
    """A 2026-07-28 SDK client of the gateway; its connections close with it."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        transport = streamable_http_client(url or deployment.url, http_client=http)
        async with Client(transport, mode=MODERN, cache=None, **options) as client:
            yield client


def task_entries(deployment) -> list[LogEntry]:
    assert flush(timeout=10)
    rows = LogEntry.objects.for_workspace(deployment.acme).filter(hop="task.status")
    return list(rows.order_by("seq"))


def test_a_task_is_followed_to_its_result_through_the_gateway(jobs, bob):
    bob_token = jobs.token_for(bob)
    tasks = Tasks()

    async def scenario():
        async with modern_client(jobs, bob_token, extensions=[tasks]) as client:
            await client.list_tools()
            return await client.call_tool("jobs__interview", {"topic": "tides"})

    result = run_client(scenario())
    assert result.content[0].text == "Interviewed Ada about tides."
    [task] = tasks.seen
    assert task["status"] == "completed"
    # The person answered what the upstream asked, relayed as it asked it.
    statuses = [(e.detail["status"], e.tool) for e in task_entries(jobs)]
    assert statuses == [
        ("working", "jobs__interview"),
        ("input_required", "jobs__interview"),
        ("completed", "jobs__interview"),
    ]


def test_a_task_reaches_an_upstream_of_both_eras_beside_its_handshake_session(
    deployment, upstream_servers, bob
):
    # The gateway holds a handshake session with an upstream that takes one; a 2026-07-28
    # caller's request must still reach it statelessly, or its tasks extension is lost.
    server = server_services.create_server(
        workspace=deployment.acme,
        name="jobs",
        url=upstream_servers.start("tasks_server.py", "--era", "both"),
        actor=deployment.alice,
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace="jobs", actor=deployment.alice
    )
    bob_token = deployment.token_for(bob)
    tasks = Tasks()

    async def scenario():
        async with modern_client(deployment, bob_token, extensions=[tasks]) as client:
            return await client.call_tool("jobs__interview", {"topic": "tides"})

    result = run_client(scenario())
    assert result.content[0].text == "Interviewed Ada about tides."
    assert [task["status"] for task in tasks.seen] == ["completed"]
    # A handshake-era caller is served in the session: the upstream answers it directly.
    old = HandshakeClient(deployment, bob_token)
    answered = old.result("tools/call", {"name": "jobs__report", "arguments": {"topic": "tides"}})
    assert answered["content"][0]["text"].startswith("Report on tides")
    assert "resultType" not in answered or answered["resultType"] == "complete"


def test_the_gateway_gives_its_own_task_id_and_relays_input_requests(jobs, bob):
    bob_token = jobs.token_for(bob)

    async def scenario():
        async with modern_client(jobs, bob_token, extensions=[Tasks()]) as client:
            created = await client.session.call_tool(
                "jobs__interview", {"topic": "tides"}, allow_claimed=True
            )
            asked = await get_task(client.session, created.task_id)
            return created, asked

    created, asked = run_client(scenario())
    assert isinstance(created, CreatedTask)
    assert created.status == "working"
    # The upstream's id is a short hex string; the gateway's is sealed and far longer.
    assert len(created.task_id) > 64
    assert flush(timeout=10)
    [sent] = LogEntry.objects.for_workspace(jobs.acme).filter(
        hop="upstream.request", rpc_method="tasks/get"
    )
    upstream_id = sent.payload["taskId"]
    assert len(upstream_id) == 32 and upstream_id not in created.task_id
    [client_sent] = LogEntry.objects.for_workspace(jobs.acme).filter(
        hop="client.request", rpc_method="tasks/get"
    )
    assert client_sent.payload["taskId"] == created.task_id
    assert asked["taskId"] == created.task_id
    assert asked["status"] == "input_required"
    request = asked["inputRequests"]["name"]
    assert request["method"] == "elicitation/create"
    assert request["params"]["message"] == "Who is being interviewed about tides?"


def test_another_person_cannot_use_a_task_id(jobs, bob, dave):
    bob_token = jobs.token_for(bob)
    dave_token = jobs.token_for(dave)

    async def scenario():
        async with modern_client(jobs, bob_token, extensions=[Tasks()]) as client:
            created = await client.session.call_tool("jobs__long_job", {}, allow_claimed=True)
        refused = []
        async with modern_client(jobs, dave_token, extensions=[Tasks()]) as client:
            for task_id in (created.task_id, created.task_id[:-4] + "AAAA", "nope"):
                with pytest.raises(MCPError) as caught:
                    await get_task(client.session, task_id)
                refused.append((caught.value.error.code, caught.value.error.message))
            with pytest.raises(MCPError) as cancel:
                await client.session.send_request(
                    CancelTask(params=TaskIdParams(taskId=created.task_id)), _ANY
                )
            refused.append((cancel.value.error.code, cancel.value.error.message))
        async with modern_client(jobs, bob_token, extensions=[Tasks()]) as client:
            still = await get_task(client.session, created.task_id)
        return refused, still

    refused, still = run_client(scenario())
    # Dave's use of Bob's id is answered exactly as a forged one or an unknown one.
    assert set(refused) == {(-32602, "Failed to retrieve task: Task not found")}
    assert len(refused) == 4
    assert still["status"] == "working"


def test_a_task_of_a_server_no_longer_assigned_is_unknown(jobs, bob):
    bob_token = jobs.token_for(bob)

    async def create():
        async with modern_client(jobs, bob_token, extensions=[Tasks()]) as client:
            created = await client.session.call_tool("jobs__long_job", {}, allow_claimed=True)
            return created.task_id

    async def poll(task_id):
        async with modern_client(jobs, bob_token, extensions=[Tasks()]) as client:
            with pytest.raises(MCPError) as refused:
                await get_task(client.session, task_id)
            return refused.value.error

    task_id = run_client(create())
    gateway_services.unassign_server(assignment=jobs.jobs, actor=jobs.alice)
    error = run_client(poll(task_id))
    assert (error.code, error.message) == (-32602, "Failed to retrieve task: Task not found")


def test_a_task_is_cancelled(jobs, bob):
    bob_token = jobs.token_for(bob)

    async def scenario():
        async with modern_client(jobs, bob_token, extensions=[Tasks()]) as client:
            created = await client.session.call_tool("jobs__long_job", {}, allow_claimed=True)
            ack = await client.session.send_request(
                CancelTask(params=TaskIdParams(taskId=created.task_id)), _ANY
            )
            return ack, await get_task(client.session, created.task_id)

    ack, task = run_client(scenario())
    assert ack.get("resultType", "complete") == "complete"
    assert task["status"] == "cancelled"
    assert [e.detail["status"] for e in task_entries(jobs)] == ["working", "cancelled"]


def test_response_rules_apply_to_the_final_result(jobs, bob):
    bob_token = jobs.token_for(bob)
    rule_services.create_rule(
        workspace=jobs.acme,
        actor=jobs.alice,
        name="no secrets",
        detector="secrets",
        action="redact",
    )
    tasks = Tasks()

    async def scenario():
        async with modern_client(jobs, bob_token, extensions=[tasks]) as client:
            return await client.call_tool("jobs__report", {"topic": "tides"})

    result = run_client(scenario())
    text = result.content[0].text
    assert text.startswith("Report on tides: use key ")
    assert SECRET not in text
    assert flush(timeout=10)
    stored = str(list(LogEntry.objects.for_workspace(jobs.acme).values_list("payload", "detail")))
    assert SECRET not in stored
    assert LogEntry.objects.for_workspace(jobs.acme).filter(hop="policy.action").exists()


def test_a_blocked_result_fails_the_task(jobs, bob):
    bob_token = jobs.token_for(bob)
    rule_services.create_rule(
        workspace=jobs.acme, actor=jobs.alice, name="no secrets", detector="secrets", action="block"
    )

    async def scenario():
        async with modern_client(jobs, bob_token, extensions=[Tasks()]) as client:
            created = await client.session.call_tool(
                "jobs__report", {"topic": "x"}, allow_claimed=True
            )
            return await follow(client.session, created.task_id)

    task = run_client(scenario())
    assert task["status"] == "failed"
    assert task["error"]["code"] == -32010
    assert "result" not in task
    assert SECRET not in str(task)
    assert flush(timeout=10)
    stored = str(list(LogEntry.objects.for_workspace(jobs.acme).values_list("payload", "detail")))
    assert SECRET not in stored
    assert [e.detail["status"] for e in task_entries(jobs)] == ["working", "failed"]


def test_a_client_without_the_extension_gets_results_not_tasks(jobs, bob):
    bob_token = jobs.token_for(bob)

    async def scenario():
        async with modern_client(jobs, bob_token) as client:
            result = await client.call_tool("jobs__report", {"topic": "tides"})
            with pytest.raises(MCPError) as refused:
                await get_task(client.session, "anything")
            return result, refused.value.error

    result, error = run_client(scenario())
    assert result.content[0].text.startswith("Report on tides")
    assert error.code == -32021
    assert error.data == {"requiredCapabilities": {"extensions": {TASKS: {}}}}


class HandshakeClient:
    """A handshake-era client over raw HTTP that declares the extension at `initialize`."""

    def __init__(self, deployment, token):
        self.url = deployment.url
        self.headers = {**deployment.headers(token), "Accept": "application/json"}
        init = self._post(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {"extensions": {TASKS: {}}},
                "clientInfo": {"name": "old", "version": "1"},
            },
        )
        self.capabilities = init.json()["result"]["capabilities"]
        self.headers["Mcp-Session-Id"] = init.headers["mcp-session-id"]
        self.headers["MCP-Protocol-Version"] = "2025-11-25"

    def _post(self, method, params):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        reply = httpx.post(self.url, headers=self.headers, json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        return reply

    def result(self, method, params) -> dict:
        return self._post(method, params).json()["result"]

    def error(self, method, params) -> dict:
        return self._post(method, params).json()["error"]


def test_a_task_for_a_client_that_cannot_follow_it_is_refused(jobs, bob):
    bob_token = jobs.token_for(bob)

    async def scenario():
        async with modern_client(jobs, bob_token) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("jobs__rogue", {})
            return refused.value.error

    error = run_client(scenario())
    assert error.code == -32003
    assert error.message == "The server 'jobs' answered with a task it may not create."


def test_a_handshake_client_that_declares_the_extension_follows_a_task(jobs, bob):
    client = HandshakeClient(jobs, jobs.token_for(bob))
    assert TASKS in client.capabilities["extensions"]
    created = client.result(
        "tools/call", {"name": "jobs__interview", "arguments": {"topic": "tides"}}
    )
    assert created["resultType"] == "task"
    task_id = created["taskId"]

    asked = client.result("tasks/get", {"taskId": task_id})
    assert asked["status"] == "input_required"
    assert "ttlMs" in asked
    answer = {"name": {"action": "accept", "content": {"name": "Grace"}}}
    client.result("tasks/update", {"taskId": task_id, "inputResponses": answer})
    done = client.result("tasks/get", {"taskId": task_id})
    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == "Interviewed Grace about tides."


def test_malformed_task_requests_get_clear_errors(jobs, bob):
    client = HandshakeClient(jobs, jobs.token_for(bob))
    task_id = client.result("tools/call", {"name": "jobs__long_job", "arguments": {}})["taskId"]
    not_found = {"code": -32602, "message": "Failed to retrieve task: Task not found"}
    for params in ({}, {"taskId": 7}, {"taskId": ""}, {"taskId": ["x"]}):
        assert client.error("tasks/get", params) == not_found
    refused = client.error("tasks/update", {"taskId": task_id, "inputResponses": "yes"})
    assert refused["code"] == -32602
    assert "inputResponses" in refused["message"]
    assert client.result("tasks/get", {"taskId": task_id})["status"] == "working"


def test_any_worker_serves_a_task_another_created(jobs, bob, two_workers, shared_cache):
    token = jobs.token_for(bob)

    async def scenario():
        first, second = two_workers
        async with modern_client(jobs, token, url=first, extensions=[Tasks()]) as client:
            created = await client.session.call_tool(
                "jobs__interview", {"topic": "tides"}, allow_claimed=True
            )
        async with modern_client(jobs, token, url=second, extensions=[Tasks()]) as client:
            return await follow(client.session, created.task_id, name="Lin")

    task = run_client(scenario())
    assert task["status"] == "completed"
    assert task["result"]["content"][0]["text"] == "Interviewed Lin about tides."

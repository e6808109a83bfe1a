"""Tools that need approval: the caller confirms through elicitation, or a team decides on the
console's approval page; refused, timed out or unanswerable calls never reach the upstream."""

import asyncio
import json
import queue
import threading
import time

import httpx
import httpx2
import pytest
import redis
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import approvals
from gateways import services as gateway_services
from gateways.models import PendingApproval
from servers import services as server_services
from teams import services as team_services
from teams.models import Membership
from tests.support.console import text
from tests.support.live_gateway import connect
from tests.support.mcp_clients import modern_client


def _require_approval(deployment, alice, **settings):
    gateway_services.update_assignment(
        assignment=deployment.full, approval_tools=["delete_note"], actor=alice, **settings
    )


def _entries(workspace, **filters):
    assert flush(timeout=10)
    return list(LogEntry.objects.for_workspace(workspace).filter(**filters).order_by("seq"))


def _decisions(workspace):
    return [e.detail["decision"] for e in _entries(workspace, hop="policy.approval")]


def _call(deployment, token, *, on_elicit=None, tool="notes__delete_note", arguments=None):
    options = {"elicitation_callback": on_elicit} if on_elicit else {}

    async def scenario():
        async with connect(deployment, token, "legacy", **options) as client:
            return await client.call_tool(tool, arguments or {"note_id": 3})

    return asyncio.run(scenario())


def test_the_caller_approves_in_a_form_that_shows_the_call(deployment, alice, bob, as_):
    _require_approval(deployment, alice)
    asked = []

    async def on_elicit(context, params):
        asked.append(params)
        return ElicitResult(action="accept", content={"approve": True})

    result = _call(deployment, deployment.token_for(bob), on_elicit=on_elicit)
    assert result.is_error is False and result.content[0].text == "deleted 3"
    assert len(asked) == 1
    assert "notes__delete_note" in asked[0].message and '"note_id": 3' in asked[0].message
    assert "approve" in asked[0].requested_schema["properties"]
    approvals = _entries(deployment.acme, hop="policy.approval")
    assert [e.detail["decision"] for e in approvals] == ["asked", "approved"]
    assert approvals[1].detail["by"] == "bob@acme.test"
    upstream = _entries(deployment.acme, hop="upstream.request", tool="notes__delete_note")
    assert len(upstream) == 1
    assert {e.correlation_id for e in approvals} == {upstream[0].correlation_id}
    # The call's timeline in the console shows the approval among its hops.
    timeline = as_(alice).get(f"/w/acme/logs/calls/{upstream[0].correlation_id}/")
    assert timeline.status_code == 200 and "policy.approval" in text(timeline)


@pytest.mark.parametrize(
    "answer",
    [
        ElicitResult(action="accept", content={"approve": False}),
        ElicitResult(action="decline"),
        ElicitResult(action="cancel"),
    ],
)
def test_a_refusal_is_a_tool_error_and_the_upstream_is_not_called(deployment, alice, bob, answer):
    _require_approval(deployment, alice)

    async def on_elicit(context, params):
        return answer

    result = _call(deployment, deployment.token_for(bob), on_elicit=on_elicit)
    assert result.is_error is True
    assert "was not approved" in result.content[0].text
    assert _decisions(deployment.acme) == ["asked", "refused"]
    assert not _entries(deployment.acme, hop="upstream.request", tool="notes__delete_note")
    response = _entries(deployment.acme, hop="client.response", tool="notes__delete_note")
    assert response[0].outcome == "blocked"


def test_other_tools_are_called_without_asking(deployment, alice, bob):
    _require_approval(deployment, alice)

    async def on_elicit(context, params):
        raise AssertionError("nothing should be asked")

    result = _call(
        deployment,
        deployment.token_for(bob),
        on_elicit=on_elicit,
        tool="notes__echo",
        arguments={"text": "hi"},
    )
    assert result.content[0].text == "hi"
    assert _decisions(deployment.acme) == []


def test_a_client_that_cannot_be_asked_gets_a_clear_tool_error(deployment, alice, bob):
    _require_approval(deployment, alice)
    result = _call(deployment, deployment.token_for(bob))
    assert result.is_error is True
    assert "needs approval" in result.content[0].text
    assert "cannot be asked" in result.content[0].text
    assert _decisions(deployment.acme) == ["unanswerable"]
    assert not _entries(deployment.acme, hop="upstream.request", tool="notes__delete_note")


def test_an_unanswered_question_times_out(deployment, alice, bob):
    _require_approval(deployment, alice, approval_timeout_seconds=1)
    started = time.monotonic()

    async def on_elicit(context, params):
        await asyncio.sleep(5)
        return ElicitResult(action="accept", content={"approve": True})

    result = _call(deployment, deployment.token_for(bob), on_elicit=on_elicit)
    assert result.is_error is True
    assert "not approved within 1 seconds" in result.content[0].text
    assert time.monotonic() - started < 5
    assert _decisions(deployment.acme) == ["asked", "timed_out"]
    assert not _entries(deployment.acme, hop="upstream.request", tool="notes__delete_note")


# -- an approver team, on the console's approval page ------------------------------------------


@pytest.fixture
def leads(deployment, alice, carol):
    """Team `leads` (alice) approves; bob, who calls, is not in it."""
    team = team_services.create_team(
        workspace=deployment.acme, slug="leads", name="Leads", actor=alice
    )
    Membership.objects.get(workspace=deployment.acme, user=alice).teams.add(team)
    return team


def _call_in_background(deployment, token):
    """Run bob's call on a thread; the test decides meanwhile. Returns (thread, outcome)."""
    outcome = {}

    def run():
        try:
            outcome["result"] = _call(deployment, token)
        except BaseException as exc:  # reported by the test, which asserts the result
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _pending(deployment, deadline=30.0) -> PendingApproval:
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        found = PendingApproval.objects.for_workspace(deployment.acme).filter(status="pending")
        if found.exists():
            return found.get()
        time.sleep(0.05)
    raise AssertionError("no call waited for approval")


@pytest.mark.parametrize(("decision", "ok"), [("approve", True), ("refuse", False)])
def test_a_team_member_decides_on_the_console(deployment, alice, bob, leads, as_, decision, ok):
    _require_approval(deployment, alice, approval_team=leads)
    thread, outcome = _call_in_background(deployment, deployment.token_for(bob))
    pending = _pending(deployment)
    assert pending.tool == "notes__delete_note" and pending.arguments == {"note_id": 3}
    # Bob, who asked, is not the approver: the call is not his to decide, nor to see.
    assert as_(bob).get(f"/w/acme/approvals/{pending.pk}/").status_code == 404
    assert "notes__delete_note" not in text(as_(bob).get("/w/acme/approvals/"))
    console = as_(alice)
    listed = console.get("/w/acme/approvals/")
    assert "notes__delete_note" in text(listed) and "bob@acme.test" in text(listed)
    page = console.get(f"/w/acme/approvals/{pending.pk}/")
    assert page.status_code == 200 and "note_id" in text(page)
    answer = console.post(f"/w/acme/approvals/{pending.pk}/", {"decision": decision})
    assert answer.status_code == 302
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.is_error is (not ok)
    if ok:
        assert result.content[0].text == "deleted 3"
    else:
        assert "refused by alice@acme.test" in result.content[0].text
    approvals = _entries(deployment.acme, hop="policy.approval")
    assert [e.detail["decision"] for e in approvals] == ["asked", "approved" if ok else "refused"]
    assert approvals[1].detail["by"] == "alice@acme.test"
    assert approvals[0].detail["team_id"] == leads.pk
    # Decided once: a second decision is refused, and the page is gone.
    again = console.post(f"/w/acme/approvals/{pending.pk}/", {"decision": "approve"})
    assert again.status_code == 404


def test_a_team_member_cannot_approve_their_own_call(deployment, alice, bob, leads, as_):
    Membership.objects.get(workspace=deployment.acme, user=bob).teams.add(leads)
    _require_approval(deployment, alice, approval_team=leads, approval_timeout_seconds=5)
    thread, outcome = _call_in_background(deployment, deployment.token_for(bob))
    pending = _pending(deployment)
    own = as_(bob).post(f"/w/acme/approvals/{pending.pk}/", {"decision": "approve"})
    assert own.status_code == 404
    thread.join(30)
    assert outcome["result"].is_error is True
    assert _decisions(deployment.acme) == ["asked", "timed_out"]


def test_a_team_that_does_not_decide_lets_the_call_time_out(deployment, alice, bob, leads):
    _require_approval(deployment, alice, approval_team=leads, approval_timeout_seconds=1)
    result = _call(deployment, deployment.token_for(bob))
    assert result.is_error is True and "within 1 seconds" in result.content[0].text
    assert _decisions(deployment.acme) == ["asked", "timed_out"]
    assert PendingApproval.objects.get().status == "timed_out"


def test_a_bad_decision_is_a_form_error(deployment, alice, bob, leads, as_):
    _require_approval(deployment, alice, approval_team=leads, approval_timeout_seconds=5)
    thread, _outcome = _call_in_background(deployment, deployment.token_for(bob))
    pending = _pending(deployment)
    answer = as_(alice).post(f"/w/acme/approvals/{pending.pk}/", {"decision": "maybe"})
    assert answer.status_code == 400 and "Choose approve or refuse" in text(answer)
    thread.join(30)


def test_another_workspace_cannot_see_or_decide_an_approval(
    deployment, alice, bob, leads, as_, globex, mallory
):
    _require_approval(deployment, alice, approval_team=leads, approval_timeout_seconds=5)
    thread, outcome = _call_in_background(deployment, deployment.token_for(bob))
    pending = _pending(deployment)
    intruder = as_(mallory)
    for url in (f"/w/acme/approvals/{pending.pk}/", f"/w/globex/approvals/{pending.pk}/"):
        assert intruder.get(url).status_code == 404
        assert intruder.post(url, {"decision": "approve"}).status_code == 404
    thread.join(30)
    assert outcome["result"].is_error is True
    pending.refresh_from_db()
    assert pending.status == "timed_out" and pending.decided_by is None


# -- 2026-07-28: asked in an input_required result ---------------------------------------------


def test_a_stateless_client_approves_in_an_input_required_round(deployment, alice, bob):
    _require_approval(deployment, alice)
    token = deployment.token_for(bob)
    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"approve": True})

    result = _modern_call(deployment, token, on_elicit, "notes__delete_note", {"note_id": 4})
    assert result.content[0].text == "deleted 4"
    assert len(asked) == 1 and "notes__delete_note" in asked[0]
    assert _decisions(deployment.acme) == ["asked", "approved"]


def _modern_call(deployment, token, on_elicit, tool, arguments):
    """One call by a 2026-07-28 SDK client that answers elicitations with `on_elicit`."""

    async def scenario():
        async with modern_client(
            deployment.url,
            headers={"Authorization": f"Bearer {token}"},
            elicitation_callback=on_elicit,
        ) as client:
            return await client.call_tool(tool, arguments)

    return asyncio.run(scenario())


def _modern_post(deployment, token, params, capabilities=None):
    headers = deployment.headers(
        token,
        **{
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": params["name"],
        },
    )
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            **params,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": (
                    {"elicitation": {"form": {}}} if capabilities is None else capabilities
                ),
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
            },
        },
    }
    return httpx.post(deployment.url, headers=headers, json=body, timeout=30).json()


def test_a_stateless_approval_holds_only_for_the_call_it_was_given_for(deployment, alice, bob):
    _require_approval(deployment, alice)
    token = deployment.token_for(bob)
    first = _modern_post(
        deployment, token, {"name": "notes__delete_note", "arguments": {"note_id": 1}}
    )["result"]
    assert first["resultType"] == "input_required"
    question = first["inputRequests"]["gatehouse.approval"]
    assert question["method"] == "elicitation/create"
    approve = {"gatehouse.approval": {"action": "accept", "content": {"approve": True}}}
    # The state of note 1's call, replayed with other arguments, approves nothing.
    other = _modern_post(
        deployment,
        token,
        {
            "name": "notes__delete_note",
            "arguments": {"note_id": 2},
            "inputResponses": approve,
            "requestState": first["requestState"],
        },
    )["result"]
    assert (
        other["isError"] is True and "does not belong to this call" in other["content"][0]["text"]
    )
    forged = _modern_post(
        deployment,
        token,
        {
            "name": "notes__delete_note",
            "arguments": {"note_id": 1},
            "inputResponses": approve,
            "requestState": first["requestState"][:-2] + "xx",
        },
    )["result"]
    assert forged["isError"] is True
    right = _modern_post(
        deployment,
        token,
        {
            "name": "notes__delete_note",
            "arguments": {"note_id": 1},
            "inputResponses": approve,
            "requestState": first["requestState"],
        },
    )["result"]
    assert right["content"][0]["text"] == "deleted 1"
    # One approval, one call: the same state and answer sent again approve nothing.
    replayed = _modern_post(
        deployment,
        token,
        {
            "name": "notes__delete_note",
            "arguments": {"note_id": 1},
            "inputResponses": approve,
            "requestState": first["requestState"],
        },
    )["result"]
    assert replayed["isError"] is True and "already used" in replayed["content"][0]["text"]
    assert not _entries(deployment.acme, hop="upstream.request", upstream_tool="delete_note")[1:]


def test_a_stateless_client_without_elicitation_gets_a_tool_error(deployment, alice, bob):
    _require_approval(deployment, alice)
    token = deployment.token_for(bob)
    answer = _modern_post(
        deployment, token, {"name": "notes__delete_note", "arguments": {"note_id": 1}}, {}
    )["result"]
    assert answer["isError"] is True and "cannot be asked" in answer["content"][0]["text"]
    assert _decisions(deployment.acme) == ["unanswerable"]


@pytest.mark.parametrize(
    ("responses", "state"), [([1, 2], "not-a-state"), ("yes", 42), ({"gatehouse.approval": 1}, "")]
)
def test_a_malformed_stateless_answer_is_refused_clearly(deployment, alice, bob, responses, state):
    _require_approval(deployment, alice)
    token = deployment.token_for(bob)
    params = {
        "name": "notes__delete_note",
        "arguments": {"note_id": 1},
        "inputResponses": responses,
        "requestState": state,
    }
    answer = _modern_post(deployment, token, params)
    if "error" in answer:
        assert answer["error"]["code"] == -32602  # the envelope refused its shape
    else:
        assert answer["result"]["isError"] is True
    assert not _entries(deployment.acme, hop="upstream.request", tool="notes__delete_note")


# -- a client that offers only URL elicitation: sent to the console's page ---------------------


def _stream_call(deployment, token, session_id, events):
    """POST the call with SSE accepted; each JSON message of the stream goes to `events`."""
    headers = deployment.headers(
        token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    )
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "notes__delete_note", "arguments": {"note_id": 5}},
    }
    with httpx.stream("POST", deployment.url, headers=headers, json=body, timeout=60) as reply:
        for line in reply.iter_lines():
            if line.startswith("data:") and line[5:].strip():
                events.put(json.loads(line[5:]))


def test_a_url_elicitation_client_is_sent_to_the_approval_page(deployment, alice, bob, as_):
    _require_approval(deployment, alice, approval_timeout_seconds=30)
    token = deployment.token_for(bob)
    opened = httpx.post(
        deployment.url,
        headers=deployment.headers(token),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"elicitation": {"url": {}}},
                "clientInfo": {"name": "browser-only", "version": "1"},
            },
        },
    )
    session_id = opened.headers["mcp-session-id"]
    events = queue.Queue()
    thread = threading.Thread(
        target=_stream_call, args=(deployment, token, session_id, events), daemon=True
    )
    thread.start()
    asked = events.get(timeout=30)
    assert asked["method"] == "elicitation/create"
    assert asked["params"]["mode"] == "url"
    pending = PendingApproval.objects.get()
    assert asked["params"]["url"].endswith(f"/w/acme/approvals/{pending.pk}/")
    headers = deployment.headers(
        token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}
    )
    accepted = httpx.post(
        deployment.url,
        headers=headers,
        json={"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept"}},
    )
    assert accepted.status_code == 202
    # Bob opens the page the client showed him: the call is his own to decide.
    page = as_(bob).get(f"/w/acme/approvals/{pending.pk}/")
    assert page.status_code == 200 and "note_id" in text(page)
    as_(bob).post(f"/w/acme/approvals/{pending.pk}/", {"decision": "approve"})
    answer = events.get(timeout=30)
    thread.join(30)
    assert answer["id"] == 7 and answer["result"]["content"][0]["text"] == "deleted 5"
    assert _decisions(deployment.acme) == ["asked", "approved"]


def test_a_cancelled_call_leaves_nothing_to_decide(deployment, alice, bob, leads, as_):
    _require_approval(deployment, alice, approval_team=leads, approval_timeout_seconds=60)
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token)
    headers = deployment.headers(token, **{"Mcp-Session-Id": session_id})
    headers["Accept"] = "application/json"
    call = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": "notes__delete_note", "arguments": {"note_id": 6}},
    }
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}

    def waiting():
        # Read through Django's sync connection, off the event loop.
        return PendingApproval.objects.filter(status="pending").exists()

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as http:
            answer = asyncio.ensure_future(http.post(deployment.url, headers=headers, json=call))
            async with asyncio.timeout(30):
                while not await asyncio.to_thread(waiting):
                    await asyncio.sleep(0.05)
            await http.post(deployment.url, headers=headers, json=cancel)
            return await answer

    answer = asyncio.run(scenario())
    assert answer.json()["error"]["code"] == -32800
    pending = PendingApproval.objects.get()
    assert pending.status == "cancelled"
    assert as_(alice).get(f"/w/acme/approvals/{pending.pk}/").status_code == 404
    assert not _entries(deployment.acme, hop="upstream.request", tool="notes__delete_note")


def test_an_approved_call_goes_on_through_the_upstreams_own_input_round(
    deployment, alice, bob, upstream_servers
):
    # The approval is the gateway's round; the upstream's question that follows is another,
    # whose retry must be neither asked again nor taken for a forged approval.
    server = server_services.create_server(
        workspace=deployment.acme,
        name="era",
        url=upstream_servers.start("era_server.py", "--era", "modern"),
        actor=alice,
    )
    gateway_services.assign_server(
        gateway=deployment.gateway,
        server=server,
        namespace="era",
        approval_tools=["ask_form"],
        actor=alice,
    )
    token = deployment.token_for(bob)
    asked = []

    async def on_elicit(context, params):
        asked.append(params.message)
        if "era__ask_form" in params.message:
            return ElicitResult(action="accept", content={"approve": True})
        return ElicitResult(action="accept", content={"name": "ada"})

    result = _modern_call(deployment, token, on_elicit, "era__ask_form", {"question": "Name?"})
    assert result.content[0].text == "form: ada"
    assert len(asked) == 2 and asked[1] == "Name?"
    assert _decisions(deployment.acme) == ["asked", "approved"]

    # The upstream's round carries the approval of these arguments only.
    call = {"name": "era__ask_form", "arguments": {"question": "Name?"}}
    first = _modern_post(deployment, token, call)["result"]
    approve = {"gatehouse.approval": {"action": "accept", "content": {"approve": True}}}
    approved = {**call, "inputResponses": approve, "requestState": first["requestState"]}
    upstreams_round = _modern_post(deployment, token, approved)["result"]
    assert upstreams_round["resultType"] == "input_required"
    [key] = upstreams_round["inputRequests"]
    answer = {key: {"action": "accept", "content": {"name": "ada"}}}
    retry = {"inputResponses": answer, "requestState": upstreams_round["requestState"]}
    other = _modern_post(
        deployment, token, {**call, "arguments": {"question": "Password?"}, **retry}
    )["result"]
    assert other["isError"] is True
    assert "does not belong to this call" in other["content"][0]["text"]
    same = _modern_post(deployment, token, {**call, **retry})["result"]
    assert same["content"][0]["text"] == "form: ada"


@pytest.fixture
def workers_env(workers_env):
    # The row is not read again within the test: only the decision's message can wake the call.
    return {**workers_env, "APPROVAL_POLL_SECONDS": "3600"}


def test_a_decision_wakes_the_call_waiting_on_another_worker(
    deployment, alice, bob, leads, two_workers, workers_env, settings
):
    _require_approval(deployment, alice, approval_team=leads, approval_timeout_seconds=120)
    # This process decides as the console of a third worker would: on the workers' Redis.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [workers_env["REDIS_URL"]]},
        }
    }
    token = deployment.token_for(bob)
    outcome = {}

    async def call_on_worker():
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            transport = streamable_http_client(two_workers[0], http_client=http)
            async with Client(transport, mode="legacy", cache=None) as client:
                return await client.call_tool("notes__delete_note", {"note_id": 3})

    def run():
        try:
            outcome["result"] = asyncio.run(call_on_worker())
        except BaseException as exc:  # reported by the test, which asserts the result
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    pending = _pending(deployment)
    # Decided once the call listens (its group has a member), or it would just read the row.
    group = f"asgi:group:{approvals.group_of(pending.pk)}"
    with redis.Redis.from_url(workers_env["REDIS_URL"]) as shared:
        until = time.monotonic() + 30
        while not shared.zcard(group) and time.monotonic() < until:
            time.sleep(0.05)
        assert shared.zcard(group), "the call never waited for the decision"
    approvals.decide(approval=pending, actor=alice, approve=True)
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].content[0].text == "deleted 3"

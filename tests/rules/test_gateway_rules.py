"""Rules in the path: through a live gateway, a real SDK client and a real upstream that records
every call it gets."""

import asyncio
import logging
import time

import pytest
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import ToolAnnotations
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from audit.log.writer import flush
from audit.models import LogEntry
from core import config_events
from dataplane.policy import RULE_BLOCKED
from rules import services as rule_services
from rules.models import Rule
from tests.support.live import ThreadedServer
from tests.support.live_gateway import Deployment, connect

pytestmark = pytest.mark.usefixtures("fresh_cache")

SECRET = "ghp_" + "Qx7" * 12
READ_ONLY = ToolAnnotations(readOnlyHint=True)


class Config(BaseModel):
    service: str
    token: str


def build_upstream(calls: list) -> MCPServer:
    server = MCPServer("vault")

    @server.tool(annotations=READ_ONLY)
    def echo(text: str) -> str:
        """Echo the text back."""
        calls.append(("echo", text))
        return text

    @server.tool(annotations=READ_ONLY)
    def read_config() -> Config:
        """The service's configuration, credentials included."""
        calls.append(("read_config", ""))
        return Config(service="billing", token=SECRET)

    @server.prompt()
    def briefing() -> str:
        """A prompt that quotes a credential."""
        return f"Use the token {SECRET} to deploy."

    @server.resource("vault://env")
    def env() -> str:
        return f"GITHUB_TOKEN={SECRET}\nREGION=eu"

    return server


@pytest.fixture(scope="module")
def vault():
    calls: list = []
    server = ThreadedServer(build_upstream(calls).streamable_http_app()).start()
    yield f"{server.url}/mcp", calls
    server.stop()


@pytest.fixture
def gateway(transactional_db, gateway_base, acme, alice, bob, vault):
    url, calls = vault
    calls.clear()
    deployment = Deployment(gateway_base, acme, alice, bob, url)
    deployment.calls = calls
    yield deployment
    flush(timeout=10)


def add_rule(gateway, name, **fields):
    fields.setdefault("detector", "secrets")
    fields.setdefault("action", "redact")
    return rule_services.create_rule(
        workspace=gateway.acme, actor=gateway.alice, name=name, **fields
    )


def entries(workspace, **filters):
    assert flush(timeout=10)
    return list(LogEntry.objects.for_workspace(workspace).filter(**filters).order_by("seq"))


def stored_text(workspace) -> str:
    assert flush(timeout=10)
    rows = LogEntry.objects.for_workspace(workspace).values_list("payload", "detail")
    return str(list(rows))


def call(gateway, *steps):
    """Run `steps` (coroutine functions taking the client) in one session as bob."""
    token = gateway.token_for(gateway.bob)

    async def scenario():
        async with connect(gateway, token, "legacy") as client:
            return [await step(client) for step in steps]

    return asyncio.run(scenario())


def test_a_blocked_request_never_reaches_the_upstream(gateway):
    add_rule(
        gateway,
        "no-etc",
        detector="tool",
        detector_config={"match": "notes__*", "arguments": [{"path": "text", "prefix": "/etc"}]},
        action="block",
        direction="request",
    )

    async def blocked(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes__echo", {"text": "/etc/passwd"})
        return refused.value.error

    async def allowed(client):
        return await client.call_tool("notes__echo", {"text": "/home/bob"})

    error, fine = call(gateway, blocked, allowed)
    assert error.code == RULE_BLOCKED
    assert "no-etc" in error.message
    assert error.data["rule"] == "no-etc" and error.data["rule_id"]
    assert gateway.calls == [("echo", "/home/bob")]
    assert fine.content[0].text == "/home/bob"

    blocked_call = entries(gateway.acme, hop="policy.action")[0].correlation_id
    hops = [e.hop for e in entries(gateway.acme, correlation_id=blocked_call)]
    assert hops == ["client.request", "policy.action", "client.response"]
    action, response = entries(gateway.acme, correlation_id=blocked_call)[1:]
    assert action.outcome == "blocked" and response.outcome == "blocked"
    assert action.detail["rule"] == "no-etc" and action.detail["kinds"] == {"argument": 1}
    assert response.error_code == RULE_BLOCKED


def test_a_secret_in_a_tool_result_is_redacted_and_never_stored(gateway):
    add_rule(gateway, "redact-secrets", direction="response", alert=True)

    async def read(client):
        return await client.call_tool("notes__read_config", {})

    (result,) = call(gateway, read)
    text = result.content[0].text
    assert SECRET not in text and "[REDACTED:GITHUB_PAT]" in text
    assert result.structured_content["token"] == "[REDACTED:GITHUB_PAT]"
    assert result.structured_content["service"] == "billing"

    hops = entries(gateway.acme)
    call_hops = [e.hop for e in hops if e.rpc_method == "tools/call"]
    assert call_hops == [
        "client.request",
        "upstream.request",
        "upstream.response",
        "policy.action",
        "client.response",
    ]
    (action,) = [e for e in hops if e.hop == "policy.action"]
    assert action.detail["kinds"] == {"github_pat": 2} and action.detail["count"] == 2
    assert action.detail["alert"] is True and action.detail["mode"] == "enforce"
    assert len({e.correlation_id for e in hops if e.rpc_method == "tools/call"}) == 1
    upstream = next(e for e in hops if e.hop == "upstream.response")
    assert "[REDACTED:GITHUB_PAT]" in str(upstream.payload)
    assert SECRET not in stored_text(gateway.acme)


def test_prompts_and_resources_are_redacted_too(gateway):
    add_rule(gateway, "redact-secrets", direction="response")

    async def prompt(client):
        return await client.get_prompt("notes__briefing")

    async def resource(client):
        return await client.read_resource("mcpgw://notes/vault://env")

    got_prompt, got_resource = call(gateway, prompt, resource)
    assert got_prompt.messages[0].content.text == "Use the token [REDACTED:GITHUB_PAT] to deploy."
    assert got_resource.contents[0].text == "GITHUB_TOKEN=[REDACTED:GITHUB_PAT]\nREGION=eu"
    assert SECRET not in stored_text(gateway.acme)


def test_request_rules_rewrite_arguments_before_they_go_upstream(gateway):
    add_rule(gateway, "redact-outgoing", direction="request")

    async def echo(client):
        return await client.call_tool("notes__echo", {"text": f"deploy with {SECRET}"})

    (result,) = call(gateway, echo)
    assert gateway.calls == [("echo", "deploy with [REDACTED:GITHUB_PAT]")]
    assert result.content[0].text == "deploy with [REDACTED:GITHUB_PAT]"
    request = entries(gateway.acme, hop="client.request", rpc_method="tools/call")[0]
    assert request.payload["arguments"] == {"text": "deploy with [REDACTED:GITHUB_PAT]"}
    assert SECRET not in stored_text(gateway.acme)


def test_monitor_mode_changes_nothing_and_logs_what_enforce_would_do(gateway):
    add_rule(gateway, "watch-secrets", mode="monitor")
    add_rule(
        gateway,
        "watch-echo",
        detector="tool",
        detector_config={"match": "*echo"},
        action="block",
        direction="request",
        mode="monitor",
    )

    async def echo(client):
        return await client.call_tool("notes__echo", {"text": SECRET})

    (result,) = call(gateway, echo)
    assert result.content[0].text == SECRET and not result.is_error
    assert gateway.calls == [("echo", SECRET)]
    actions = entries(gateway.acme, hop="policy.action")
    seen = sorted((a.detail["rule"], a.detail["direction"], a.detail["applied"]) for a in actions)
    assert seen == [
        ("watch-echo", "request", False),
        ("watch-secrets", "request", False),
        ("watch-secrets", "response", False),
    ]
    assert all(a.detail["mode"] == "monitor" and a.outcome == "ok" for a in actions)
    assert entries(gateway.acme, hop="client.response")[0].outcome == "ok"


def test_an_assignment_rule_leaves_other_assignments_alone(gateway):
    add_rule(
        gateway,
        "ro-only",
        detector="keywords",
        detector_config={"words": ["classified"]},
        action="block",
        direction="request",
        assignment=gateway.readonly,
    )

    async def on_notes(client):
        return await client.call_tool("notes__echo", {"text": "classified memo"})

    async def on_ro(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("ro__echo", {"text": "classified memo"})
        return refused.value.error

    passed, error = call(gateway, on_notes, on_ro)
    assert passed.content[0].text == "classified memo"
    assert error.code == RULE_BLOCKED and error.data["rule"] == "ro-only"
    assert gateway.calls == [("echo", "classified memo")]
    # A block on what the arguments say keeps them out of the log.
    blocked = entries(gateway.acme, hop="client.response", outcome="blocked")[0]
    request = entries(gateway.acme, correlation_id=blocked.correlation_id)[0]
    assert request.hop == "client.request" and "arguments" not in request.payload


def test_conditions_on_people_and_teams(gateway):
    add_rule(
        gateway,
        "eng-only",
        detector="tool",
        detector_config={"match": "*echo"},
        action="block",
        conditions={"teams": ["eng"], "people": ["someone@else.test"]},
    )

    async def echo(client):
        return await client.call_tool("notes__echo", {"text": "hi"})

    (passed,) = call(gateway, echo)
    assert passed.content[0].text == "hi"  # bob is in eng but is not the person named
    rule = gateway.acme.rules.get(name="eng-only")
    rule_services.update_rule(
        rule=rule, actor=gateway.alice, conditions={"teams": ["eng"], "people": ["BOB@acme.test"]}
    )

    async def refused(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes__echo", {"text": "hi"})
        return refused.value.error

    (error,) = call(gateway, refused)
    assert error.data["rule"] == "eng-only"


def test_a_rule_edited_through_the_api_reaches_a_running_gateway(gateway, api):
    client = api.as_(gateway.alice)
    created = client.post(
        "/api/v1/workspaces/acme/rules/",
        {"name": "mask", "detector": "secrets", "action": "flag", "direction": "response"},
        format="json",
    )
    assert created.status_code == 201, created.content
    token = gateway.token_for(gateway.bob)

    async def scenario():
        async with connect(gateway, token, "legacy") as session:
            before = await session.call_tool("notes__read_config", {})
            changed = await asyncio.to_thread(
                client.patch,
                f"/api/v1/workspaces/acme/rules/{created.json()['id']}/",
                {"action": "mask", "action_config": {"keep": 4}},
                format="json",
            )
            assert changed.status_code == 200, changed.content
            after = await session.call_tool("notes__read_config", {})
            return before, after

    before, after = asyncio.run(scenario())
    assert before.structured_content["token"] == SECRET
    assert after.structured_content["token"] == "*" * (len(SECRET) - 4) + SECRET[-4:]


@pytest.fixture(scope="module")
def decision_service():
    """A webhook decision service on loopback: answers what the test tells it to, keeps what
    it was asked."""
    asked: list = []
    answer: dict = {}

    async def decide(request):
        asked.append(await request.json())
        return JSONResponse(answer)

    app = Starlette(routes=[Route("/decide", decide, methods=["POST"])])
    server = ThreadedServer(app).start()
    yield f"{server.url}/decide", asked, answer
    server.stop()


def webhook_rule(gateway, url, **config):
    return add_rule(
        gateway,
        "dlp",
        detector="webhook",
        detector_config={"url": url, "allow_private": ["127.0.0.1/32"], **config},
        action="block",
        direction="response",
    )


def test_a_webhook_rewrites_a_result_and_is_told_who_called(gateway, decision_service):
    url, asked, answer = decision_service
    asked.clear()
    answer.clear()
    answer.update(
        decision="modify",
        body={
            "content": [{"type": "text", "text": "nothing to see"}],
            "structuredContent": {"result": "nothing to see"},
            "isError": False,
        },
    )
    rule = webhook_rule(gateway, url)

    async def echo(client):
        return await client.call_tool("notes__echo", {"text": "the plans"})

    (result,) = call(gateway, echo)
    assert result.content[0].text == "nothing to see"
    (envelope,) = asked
    assert envelope["rule"] == {"id": rule.pk, "name": "dlp"}
    assert envelope["workspace"]["slug"] == "acme" and envelope["gateway"]["slug"] == "dev"
    assert envelope["person"]["email"] == "bob@acme.test"
    assert (envelope["direction"], envelope["method"], envelope["tool"]) == (
        "response",
        "tools/call",
        "notes__echo",
    )
    assert envelope["server"] == "notes"
    assert envelope["body"]["content"][0]["text"] == "the plans"
    response = entries(gateway.acme, hop="client.response", rpc_method="tools/call")[0]
    assert "the plans" not in str(response.payload)


def test_a_webhook_that_fails_closed_blocks_and_says_why(gateway):
    webhook_rule(gateway, "http://127.0.0.1:9/decide", timeout_ms=500)

    async def echo(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes__echo", {"text": "anything"})
        return refused.value.error

    (error,) = call(gateway, echo)
    assert error.code == RULE_BLOCKED and error.data["rule"] == "dlp"
    (action,) = entries(gateway.acme, hop="policy.action")
    assert action.detail["error"] and action.outcome == "blocked"
    assert action.detail["kinds"] == {"webhook_error": 1}
    # The upstream answered; its answer is withheld from the log with the call.
    upstream = entries(gateway.acme, hop="upstream.response")[0]
    assert upstream.outcome == "blocked" and upstream.payload is None


def test_arguments_of_a_call_refused_before_the_rules_ran_are_not_stored(gateway):
    add_rule(gateway, "redact-outgoing", direction="request")

    async def unknown(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes__nothing", {"text": SECRET})
        return refused.value.error

    (error,) = call(gateway, unknown)
    assert "Unknown tool" in error.message
    assert gateway.calls == []
    request = entries(gateway.acme, hop="client.request", rpc_method="tools/call")[0]
    assert request.payload == {"name": "notes__nothing"}
    assert SECRET not in stored_text(gateway.acme)


def test_a_pattern_python_would_backtrack_on_answers_in_milliseconds(gateway):
    # On Python's `re` this pattern on forty `a`s and a `!` takes hours, holding the worker.
    add_rule(
        gateway,
        "all-as",
        detector="regex",
        detector_config={"pattern": "^(a+)+$"},
        action="block",
        direction="request",
    )
    token = gateway.token_for(gateway.bob)

    async def timed(text):
        async with connect(gateway, token, "legacy") as client:
            started = time.perf_counter()
            result = await client.call_tool("notes__echo", {"text": text})
            return result.content[0].text, time.perf_counter() - started

    async def scenario():
        # The hostile call and another one, at once, on the same worker.
        return await asyncio.gather(timed("a" * 40 + "!"), timed("hello"))

    (evil, evil_took), (other, other_took) = asyncio.run(scenario())
    assert (evil, other) == ("a" * 40 + "!", "hello")
    assert evil_took < 0.5 and other_took < 0.5
    assert sorted(gateway.calls) == [("echo", "a" * 40 + "!"), ("echo", "hello")]

    async def blocked(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes__echo", {"text": "a" * 40})
        return refused.value.error

    (error,) = call(gateway, blocked)
    assert error.code == RULE_BLOCKED and error.data["rule"] == "all-as"


def test_a_call_whose_rules_overrun_their_budget_is_refused(gateway, settings):
    settings.RULES_CALL_BUDGET_MS = 0.001
    add_rule(
        gateway,
        "flag-plans",
        detector="keywords",
        detector_config={"words": ["plans"]},
        action="flag",
        direction="request",
    )

    async def refused(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes__echo", {"text": "nothing to see"})
        return refused.value.error

    (error,) = call(gateway, refused)
    assert error.code == RULE_BLOCKED
    assert "took longer than their 0.001 ms budget" in error.message
    assert error.data == {
        "rule": "flag-plans",
        "rule_id": error.data["rule_id"],
        "reason": "rules_budget_exceeded",
        "budget_ms": 0.001,
    }
    assert gateway.calls == []
    (action,) = entries(gateway.acme, hop="policy.action")
    assert action.outcome == "blocked"
    assert action.detail["kinds"] == {"budget_exceeded": 1}
    assert action.detail["error"] == "budget exceeded" and action.detail["applied"] is True

    settings.RULES_CALL_BUDGET_MS = 1000

    async def served(client):
        return await client.call_tool("notes__echo", {"text": "nothing to see"})

    (result,) = call(gateway, served)
    assert result.content[0].text == "nothing to see"


def test_a_stored_blocking_rule_re2_cannot_run_refuses_its_calls(gateway, caplog):
    # As an older release could have saved it: validation now refuses the backreference.
    rule = add_rule(
        gateway,
        "doubled",
        detector="regex",
        detector_config={"pattern": "x"},
        action="block",
        direction="request",
        conditions={"tools": ["notes__*"]},
    )
    Rule.objects.filter(pk=rule.pk).update(detector_config={"pattern": r"(\w)\1", "kind": "x"})
    config_events.workspace_changed(workspace_id=gateway.acme.pk)  # commits at once here

    async def refused(client):
        with pytest.raises(MCPError) as refused:
            await client.call_tool("notes__echo", {"text": "hello"})
        return refused.value.error

    async def other_tools(client):
        return await client.call_tool("ro__echo", {"text": "hello"})

    with caplog.at_level(logging.ERROR, logger="rules.engine"):
        error, served = call(gateway, refused, other_tools)
    assert error.code == RULE_BLOCKED and error.data["rule"] == "doubled"
    assert served.content[0].text == "hello"  # its conditions still choose what it refuses
    assert gateway.calls == [("echo", "hello")]
    assert "does not compile, so it refuses the calls it applies to" in caplog.text
    assert "backreference" in caplog.text
    (action,) = entries(gateway.acme, hop="policy.action")
    assert action.outcome == "blocked" and action.detail["kinds"] == {"rule_cannot_run": 1}

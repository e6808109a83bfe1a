"""A 2026-07-28 client's side of a handshake upstream's mid-call question, on the wire: the
input_required answer, the sealed requestState, its refusals, and a pending call left behind.

The whole matrix of eras and kinds of side traffic is tests/dataplane/test_era_matrix.py; the
same over two workers is in tests/dataplane/test_load_balanced.py.
"""

import asyncio
import time

import httpx
import pytest
from mcp_types import ElicitResult

from audit.log.writer import flush
from audit.models import LogEntry
from gateways import services as gateway_services
from rules import services as rule_services
from servers import services as server_services
from tests.support.live_gateway import connect

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
}
ANSWER = {"action": "accept", "content": {"name": "ada"}}


def assign_era_server(deployment, alice, upstream_servers, era: str, namespace: str):
    """The deployment's gateway with era_server.py speaking `era` assigned as `namespace`."""
    url = upstream_servers.start("era_server.py", "--era", era)
    server = server_services.create_server(
        workspace=deployment.acme, name=f"era-{era}", url=url, actor=alice
    )
    gateway_services.assign_server(
        gateway=deployment.gateway, server=server, namespace=namespace, actor=alice
    )
    return deployment


@pytest.fixture
def gateway(deployment, alice, upstream_servers):
    return assign_era_server(deployment, alice, upstream_servers, "handshake", "hs")


def call(deployment, token, name, arguments, **params) -> dict:
    """One 2026-07-28 tools/call; its JSON-RPC answer."""
    headers = deployment.headers(
        token,
        Accept="application/json",
        **{"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name},
    )
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": META, **params},
    }
    response = httpx.post(deployment.url, headers=headers, json=body, timeout=30)
    answer = response.json()
    # A 2026-07-28 error carries its HTTP status (the SDK's table): 400 for invalid params.
    expected = 400 if answer.get("error", {}).get("code") == -32602 else 200
    assert response.status_code == expected, response.text
    return answer


def asked(deployment, token, question="Name?") -> tuple[str, dict, str]:
    """Start a call the upstream asks a question in: (key, request, requestState)."""
    result = call(deployment, token, "hs__ask_form", {"question": question})["result"]
    assert result["resultType"] == "input_required", result
    [(key, request)] = result["inputRequests"].items()
    return key, request, result["requestState"]


def test_the_upstreams_question_is_answered_by_the_clients_retry(gateway, bob):
    token = gateway.token_for(bob)
    key, request, state = asked(gateway, token)
    assert request["method"] == "elicitation/create"
    assert request["params"]["message"] == "Name?"
    assert request["params"]["requestedSchema"]["properties"]["name"]["type"] == "string"
    assert state.startswith("gh1.")

    answer = call(
        gateway,
        token,
        "hs__ask_form",
        {"question": "Name?"},
        inputResponses={key: ANSWER},
        requestState=state,
    )["result"]
    assert answer["resultType"] == "complete"
    assert answer["content"][0]["text"] == "form: ada"

    # The call is over: the same state again finds nothing to continue.
    again = call(
        gateway,
        token,
        "hs__ask_form",
        {"question": "Name?"},
        inputResponses={key: ANSWER},
        requestState=state,
    )["error"]
    assert again["code"] == -32602
    assert (
        again["message"] == "The call this requestState continues has ended; call the tool again."
    )


def test_a_request_state_that_is_not_the_callers_own_is_refused(gateway, bob):
    token = gateway.token_for(bob)
    key, _, state = asked(gateway, token)
    arguments = {"question": "Name?"}

    def retry(state, *, token=token, name="hs__ask_form", responses=None):
        responses = {key: ANSWER} if responses is None else responses
        return call(gateway, token, name, arguments, inputResponses=responses, requestState=state)

    forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    refusals = {
        "forged": retry(forged)["error"],
        "not the gateway's": retry("v1.someone-elses")["error"],
        "another token": retry(state, token=gateway.token_for(bob))["error"],
        "another tool": retry(state, name="hs__sample")["error"],
    }
    for what, error in refusals.items():
        assert error["code"] == -32602, what
        assert error["data"] == {"reason": "invalid_request_state"}, what
    assert refusals["forged"]["message"] == "The requestState was not issued by this gateway."
    assert refusals["another token"]["message"] == (
        "The requestState belongs to another caller, gateway or call."
    )
    unanswered = retry(state, responses={})["error"]
    assert unanswered["code"] == -32602
    assert unanswered["message"] == f"inputResponses has no answer to the input request '{key}'."

    # None of the refusals touched the pending call: the caller's own retry still completes it.
    assert retry(state)["result"]["content"][0]["text"] == "form: ada"


def test_a_pending_call_whose_client_never_returns_is_cancelled(gateway, bob, settings):
    settings.MCP_UPSTREAM_TIMEOUT_SECONDS = 2
    token = gateway.token_for(bob)
    result = call(gateway, token, "hs__ask_and_remember", {"question": "Still there?"})["result"]
    assert result["resultType"] == "input_required"
    [key] = result["inputRequests"]

    def upstream_says() -> str:
        return call(gateway, token, "hs__asking", {})["result"]["content"][0]["text"]

    assert upstream_says() == "asking"
    deadline = time.monotonic() + 30
    while (said := upstream_says()) == "asking":
        assert time.monotonic() < deadline, "the pending call was never cleaned up"
    # The upstream was told the call is off, and the client's late answer is refused.
    assert said == "cancelled"
    late = call(
        gateway,
        token,
        "hs__ask_and_remember",
        {"question": "Still there?"},
        inputResponses={key: ANSWER},
        requestState=result["requestState"],
    )["error"]
    assert late["code"] == -32602
    assert late["message"] == "The requestState has expired; call the tool again."


def test_a_second_question_is_a_second_round_and_its_log_reaches_the_retry(gateway, bob):
    token = gateway.token_for(bob)
    asked, logged = [], []

    async def on_elicit(context, params):
        asked.append(params.message)
        return ElicitResult(action="accept", content={"name": params.message.split()[0]})

    async def on_log(params):
        logged.append(params.data)

    async def scenario():
        async with connect(
            gateway,
            token,
            "2026-07-28",
            elicitation_callback=on_elicit,
            logging_callback=on_log,
            log_level="info",
        ) as client:
            return (await client.call_tool("hs__two_questions", {})).content[0].text

    assert asyncio.run(scenario()) == "names: First Last"
    assert asked == ["First name?", "Last name?"]
    # Logged by the upstream while the first retry was waiting on the call's worker.
    assert logged == ["got First"]


@pytest.fixture
def both_eras(deployment, alice, upstream_servers):
    return assign_era_server(deployment, alice, upstream_servers, "both", "both")


def test_an_upstream_of_both_eras_is_asked_both_ways_for_a_stateless_caller(both_eras, bob):
    token = both_eras.token_for(bob)
    # Its own input round (a 2026-07-28 tool) reaches the caller statelessly...
    first = call(both_eras, token, "both__ask_form", {"question": "Name?"})["result"]
    assert first["resultType"] == "input_required"
    [(key, _request)] = first["inputRequests"].items()
    own = call(
        both_eras,
        token,
        "both__ask_form",
        {"question": "Name?"},
        inputResponses={key: ANSWER},
        requestState=first["requestState"],
    )["result"]
    assert own["content"][0]["text"] == "form: ada"
    # ...and a tool that asks mid-call, which has no channel in a stateless request, is called
    # in the session, where its question becomes the caller's input round.
    second = call(both_eras, token, "both__ask_and_remember", {"question": "Who?"})["result"]
    assert second["resultType"] == "input_required", second
    [(key, request)] = second["inputRequests"].items()
    assert request["params"]["message"] == "Who?"
    mid_call = call(
        both_eras,
        token,
        "both__ask_and_remember",
        {"question": "Who?"},
        inputResponses={key: ANSWER},
        requestState=second["requestState"],
    )["result"]
    assert mid_call["content"][0]["text"] == "form: ada"


SECRET = "ghp_" + "Tk4" * 12


def answer_a_secret(gateway, alice, token, action: str) -> dict:
    """With a request rule that acts on secrets, a 2026-07-28 retry typing one into the
    upstream's form; its JSON-RPC answer."""
    rule_services.create_rule(
        workspace=gateway.acme,
        actor=alice,
        name="no secrets upstream",
        detector="secrets",
        action=action,
        direction="request",
    )
    key, _, state = asked(gateway, token)
    typed = {key: {"action": "accept", "content": {"name": SECRET}}}
    arguments = {"question": "Name?"}
    return call(gateway, token, "hs__ask_form", arguments, inputResponses=typed, requestState=state)


def test_the_answers_an_upstream_gets_are_governed_by_the_request_rules(gateway, alice, bob):
    # What the person types into an upstream's form goes upstream: a secret in it is redacted
    # as in the call's arguments, whichever era the client speaks.
    token = gateway.token_for(bob)
    modern = answer_a_secret(gateway, alice, token, "redact")["result"]

    async def answer(context, params):
        return ElicitResult(action="accept", content={"name": SECRET})

    async def scenario():
        async with connect(gateway, token, "legacy", elicitation_callback=answer) as client:
            return await client.call_tool("hs__ask_and_remember", {"question": "Name?"})

    legacy = asyncio.run(scenario())
    for text in (modern["content"][0]["text"], legacy.content[0].text):
        assert text.startswith("form: ") and SECRET not in text
    assert flush(timeout=10)
    actions = LogEntry.objects.for_workspace(gateway.acme).filter(hop="policy.action")
    assert actions.count() == 2
    assert all(entry.detail["paths"][0].startswith("inputResponses.") for entry in actions), [
        entry.detail for entry in actions
    ]


def test_an_answer_a_rule_blocks_never_reaches_the_upstream(gateway, alice, bob):
    error = answer_a_secret(gateway, alice, gateway.token_for(bob), "block")["error"]
    assert error["code"] == -32010
    assert SECRET not in str(error)

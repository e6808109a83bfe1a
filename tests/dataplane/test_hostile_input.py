"""Hostile JSON-RPC against the live endpoint: never a 5xx, and the session lives on.

The named cases are the findings; the Hypothesis fuzzers then send generated messages (wrong
types for every envelope field, huge strings, deep nesting, batches, stray responses, unknown
methods, notifications) over a real socket in both eras and on the legacy SSE transport. The
profile is derandomized and keeps no example database, so CI sees the same examples every run.
"""

import asyncio
import json
import logging

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.log.writer import flush
from audit.models import LogEntry

HANDSHAKE = "2025-06-18"
MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}
FAILURES = (
    "MCP endpoint failed",
    "legacy SSE request failed",
    "audit writer: the forwarder stopped",
)

hostile = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def handshake_headers(deployment, token, session_id) -> dict:
    return deployment.headers(
        token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": HANDSHAKE}
    )


def modern_headers(deployment, token, method="tools/list") -> dict:
    return deployment.headers(token, **{"MCP-Protocol-Version": MODERN, "Mcp-Method": method})


def tools_listed(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["name"] for t in response.json()["result"]["tools"]]


def no_failure_logged(caplog) -> None:
    # The audit trail of everything sent was written too: hostile input cannot stop it.
    assert flush(timeout=30)
    failed = [r.getMessage() for r in caplog.records if r.getMessage() in FAILURES]
    assert not failed


# -- the findings ------------------------------------------------------------------------------

MALFORMED_NOTIFICATIONS = [
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": "x"},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["x"]},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": 7},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": {"a": 1}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized", "params": "x"},
]


@pytest.mark.parametrize("message", MALFORMED_NOTIFICATIONS)
def test_a_malformed_notification_is_dropped_in_both_eras(deployment, bob, message):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token, HANDSHAKE)
    handshake = handshake_headers(deployment, token, session_id)
    modern = modern_headers(deployment, token, message["method"])
    for headers in (handshake, modern):
        response = httpx.post(deployment.url, headers=headers, json=message)
        assert response.status_code == 202 and response.content == b""
    assert "notes__echo" in tools_listed(
        httpx.post(
            deployment.url,
            headers=handshake,
            json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"},
        )
    )


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": "x"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": 3}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": ["x"]}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": "x"}}, -32602),
        ({"jsonrpc": "2.0", "id": 1, "method": ["tools/list"]}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, -32600),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, -32600),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "result": "not an object"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "error": "not an object"}, -32600),
        ({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "x"}}, -32600),
    ],
)
def test_a_malformed_request_gets_a_json_rpc_error_in_both_eras(deployment, bob, message, code):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token, HANDSHAKE)
    for headers in (
        handshake_headers(deployment, token, session_id),
        modern_headers(deployment, token),
    ):
        response = httpx.post(deployment.url, headers=headers, json=message)
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["error"]["code"] == code
        valid_id = isinstance(message.get("id"), int | str) and not isinstance(message["id"], bool)
        assert error["id"] == (message["id"] if valid_id and "method" in message else None)


def test_wrongly_typed_fields_inside_params_are_refused_not_crashed(deployment, bob):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token, HANDSHAKE)
    headers = handshake_headers(deployment, token, session_id)
    cases = [
        ("initialize", {"clientInfo": "x", "capabilities": ["y"], "protocolVersion": ["z"]}),
        ("completion/complete", {"ref": {"type": "ref/prompt", "name": ["x"]}}),
        ("tools/call", {"name": "notes__echo", "arguments": {"text": "hi"}, "_meta": ["x"]}),
        ("tools/call", {"name": ["notes__echo"]}),
        ("resources/read", {"uri": {"u": 1}}),
        ("tools/list", {"cursor": {"o": 1}}),
    ]
    for number, (method, params) in enumerate(cases):
        message = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
        response = httpx.post(deployment.url, headers=headers, json=message)
        assert response.status_code in (200, 400), (method, response.text)
        body = response.json()
        assert method == "initialize" or body["error"]["code"] in (-32600, -32602), body
    assert "notes__echo" in tools_listed(
        httpx.post(
            deployment.url,
            headers=headers,
            json={"jsonrpc": "2.0", "id": 99, "method": "tools/list"},
        )
    )


def test_a_stray_answer_naming_no_channel_of_ours_is_ignored(deployment, bob):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token, HANDSHAKE)
    headers = handshake_headers(deployment, token, session_id)
    for answer_id in ("gh-ask:" + "x" * 300, "gh-ask:not a channel!", "gh-ask:"):
        answer = {"jsonrpc": "2.0", "id": answer_id, "result": {}}
        assert httpx.post(deployment.url, headers=headers, json=answer).status_code == 202


def test_deep_nesting_is_refused_and_the_audit_trail_keeps_writing(deployment, bob, caplog):
    caplog.set_level(logging.ERROR)
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token, HANDSHAKE)
    headers = handshake_headers(deployment, token, session_id)

    def call(number, text):
        arguments = {"text": text}
        message = {"jsonrpc": "2.0", "id": number, "method": "tools/call"}
        message["params"] = {"name": "notes__echo", "arguments": arguments}
        return httpx.post(deployment.url, headers=headers, content=json.dumps(message))

    for depth in (100, 500, 900):
        refused = call(depth, _nested(depth, "x"))
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == -32600 and refused.json()["id"] == depth
        assert "nested deeper than 64 levels" in refused.json()["error"]["message"]
    # Nesting a real client might send still goes through.
    shallow = call(1, _nested(40, "x"))
    assert shallow.status_code == 200 and "nested deeper" not in shallow.text
    assert call(2, "after").json()["result"]["content"][0]["text"] == "after"
    no_failure_logged(caplog)
    assert LogEntry.objects.filter(hop="client.response", rpc_id="2").exists()


# -- the fuzzers -------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
METHODS = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "notifications/cancelled",
    "notifications/initialized",
    "notifications/progress",
    "nope/nothing",
    "",
]
methods = st.sampled_from(METHODS) | st.text(max_size=30) | json_values
ids = st.integers(min_value=-(2**63), max_value=2**63) | st.text(max_size=20) | json_values
# Fields the handlers read, with values of every type; a few real tool names so calls go through.
params_objects = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["notes__echo", "notes__add", "ro__echo", "notes__greet"])
        | json_values,
        "arguments": st.fixed_dictionaries({}, optional={"text": json_values, "a": json_values})
        | json_values,
        "uri": st.sampled_from(["mcpgw://notes/notes://all", "notes://all"]) | json_values,
        "cursor": json_values,
        "ref": st.fixed_dictionaries(
            {"type": st.sampled_from(["ref/prompt", "ref/resource"]) | json_values},
            optional={"name": json_values, "uri": json_values},
        )
        | json_values,
        "level": json_values,
        "requestId": ids,
        "protocolVersion": st.sampled_from([HANDSHAKE, MODERN]) | json_values,
        "clientInfo": json_values,
        "capabilities": json_values,
        "_meta": st.just(META) | json_values,
    },
)
params = params_objects | json_values
messages = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | json_values,
        "id": ids,
        "method": methods,
        "params": params,
        "result": json_values,
        "error": st.fixed_dictionaries({"code": json_values, "message": json_values}) | json_values,
    },
)
# Well-enveloped requests and notifications, so the handlers behind the envelope are reached;
# then the same with one or two fields dropped or given a value of any type.
requests = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": st.sampled_from(METHODS), "params": params_objects},
    optional={"id": st.integers(min_value=0, max_value=1000) | st.text(max_size=10)},
)
FIELDS = ["jsonrpc", "id", "method", "params", "result", "error"]
mutated = st.builds(
    lambda message, changes, dropped: {
        **{k: v for k, v in message.items() if k not in dropped},
        **changes,
    },
    requests,
    st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=2),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)


def _nested(depth: int, leaf) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


specials = st.sampled_from(
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"null",
        b'"just a string"',
        b"[]",
        json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "ping"}] * 3).encode(),
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": _nested(200, {})}
        ).encode(),
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "notes__echo", "arguments": {"text": _nested(400, "x")}},
            }
        ).encode(),
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "x" * 1_000_000}).encode(),
        json.dumps({"jsonrpc": "2.0", "id": "i" * 1_000_000, "method": "ping"}).encode(),
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "tools/call",
                "params": {"name": "notes__echo", "arguments": {"text": "y" * 2_000_000}},
            }
        ).encode(),
        b'{"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"n": 1' + b"0" * 5000 + b"}}",
    ]
)
bodies = (
    mutated.map(lambda m: json.dumps(m).encode())
    | requests.map(lambda m: json.dumps(m).encode())
    | mutated.map(lambda m: json.dumps(m).encode())
    | messages.map(lambda m: json.dumps(m).encode())
    | st.lists(messages, max_size=3).map(lambda m: json.dumps(m).encode())
    | specials
)


def _modern_headers_for(headers: dict, body: bytes) -> dict:
    """Headers a 2026-07-28 client would send with this body, so the envelope checks pass when
    the body is otherwise right and the handlers behind them are reached."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return headers
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return headers
    extra = {"Mcp-Method": _header_value(message["method"])}
    params = message.get("params")
    name = params.get("name") or params.get("uri") if isinstance(params, dict) else None
    if isinstance(name, str):
        extra["Mcp-Name"] = _header_value(name)
    return {**headers, **extra}


def _header_value(text: str) -> str:
    # What HTTP can carry; the gateway then refuses the mismatch, which is a fine outcome too.
    return "".join(c for c in text[:200] if " " <= c <= "~").strip()


def _with_envelope(body: bytes) -> bytes:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return body
    if isinstance(message, dict) and isinstance(message.get("params"), dict):
        message["params"].setdefault("_meta", META)
        return json.dumps(message).encode()
    return body


@pytest.mark.parametrize("era", ["handshake", "modern"])
def test_generated_messages_never_get_a_5xx_and_the_session_lives_on(deployment, bob, era, caplog):
    caplog.set_level(logging.ERROR)
    token = deployment.token_for(bob)
    if era == "handshake":
        session_id = deployment.initialize(token, HANDSHAKE)
        base_headers = handshake_headers(deployment, token, session_id)
    else:
        base_headers = modern_headers(deployment, token)
    tools_list = {"jsonrpc": "2.0", "id": "alive", "method": "tools/list"}
    if era == "modern":
        tools_list["params"] = {"_meta": META}

    with httpx.Client(timeout=30) as http:

        @hostile
        @given(body=bodies, envelope=st.booleans())
        def fuzz(body, envelope):
            headers = base_headers
            if era == "modern":
                body = _with_envelope(body) if envelope else body
                headers = _modern_headers_for(base_headers, body)
            response = http.post(deployment.url, headers=headers, content=body)
            assert response.status_code < 500, (body[:300], response.text[:300])
            if response.status_code == 202:
                assert response.content == b""
            elif response.headers.get("content-type") == "application/json":
                answer = response.json()
                assert answer.get("jsonrpc") == "2.0" and ("result" in answer or "error" in answer)

        fuzz()
        alive = http.post(deployment.url, headers=base_headers, json=tools_list)
        assert "notes__echo" in tools_listed(alive)
    no_failure_logged(caplog)


# -- the legacy HTTP+SSE transport -------------------------------------------------------------


async def _answer_with_id(lines, wanted) -> dict:
    async for line in lines:
        if line.startswith("data: "):
            message = json.loads(line[len("data: ") :])
            if message.get("id") == wanted:
                return message
    raise AssertionError("the stream ended")


def test_the_legacy_transport_survives_generated_messages(deployment, bob, caplog):
    caplog.set_level(logging.ERROR)
    token = deployment.token_for(bob)
    auth = {"Authorization": f"Bearer {token}"}

    async def scenario():
        async with (
            httpx.AsyncClient(base_url=deployment.base, headers=auth, timeout=30) as http,
            http.stream("GET", f"{deployment.url}/sse") as stream,
        ):
            lines = stream.aiter_lines()
            endpoint = None
            async for line in lines:
                if line.startswith("data: "):
                    endpoint = line[len("data: ") :]
                    break
            statuses = []

            # Posted from a thread: this loop keeps reading the stream meanwhile.
            @settings(hostile, max_examples=60)
            @given(body=bodies)
            def fuzz(body):
                statuses.append((body, sync.post(endpoint, content=body).status_code))

            with httpx.Client(base_url=deployment.base, headers=auth, timeout=30) as sync:
                await asyncio.to_thread(fuzz)
            final = {"jsonrpc": "2.0", "id": "alive", "method": "tools/list"}
            assert (await http.post(endpoint, json=final)).status_code == 202
            answer = await asyncio.wait_for(_answer_with_id(lines, "alive"), 30)
            return statuses, answer

    statuses, answer = asyncio.run(scenario())
    assert all(status < 500 for _, status in statuses), [
        (b[:200], s) for b, s in statuses if s >= 500
    ]
    assert "notes__echo" in [t["name"] for t in answer["result"]["tools"]]
    no_failure_logged(caplog)

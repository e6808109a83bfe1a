"""How the gateway answers 2026-07-28 (stateless) requests at its edge: HTTP statuses of errors,
unsupported versions, log levels, caching hints, `Mcp-Param-*` headers and listen streams.

Raw HTTP against a live gateway in front of the conformance server, in its both-eras form (the
gateway reaches it in a handshake session) and its 2026-07-28-only form (called statelessly).
"""

import contextlib
import json

import httpx
import pytest

from gateways import services as gateway_services
from rules import services as rule_services
from servers import services as server_services

VERSION = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientInfo": {"name": "edge-test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
BOTH_ERAS = pytest.mark.parametrize(
    "edge",
    ["conformance_server_url", "conformance_modern_url"],
    ids=["dual-era", "modern"],
    indirect=True,
)


@pytest.fixture
def edge(request, deployment, alice, bob):
    """`post` and `stream` on a transparent gateway in front of the conformance server."""
    upstream_url = request.getfixturevalue(getattr(request, "param", "conformance_server_url"))
    server = server_services.create_server(
        workspace=deployment.acme, name="conformance", url=upstream_url, actor=alice
    )
    gateway = gateway_services.create_gateway(
        workspace=deployment.acme, slug="edge", name="Edge", actor=alice
    )
    gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
    gateway_services.assign_server(
        gateway=gateway, server=server, namespace="", prefix_mode="never", actor=alice
    )
    return Edge(f"{deployment.base}/mcp/acme/edge", deployment.token_for(bob))


class Edge:
    def __init__(self, url, token):
        self.url, self.token = url, token

    def headers(self, method, params, **extra):
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": VERSION,
            "Mcp-Method": method,
        }
        name = (params or {}).get("uri" if method == "resources/read" else "name")
        if method in ("tools/call", "prompts/get", "resources/read") and name:
            headers["Mcp-Name"] = name
        return {**headers, **extra}

    def body(self, method, params, request_id):
        return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}

    def post(self, method, params=None, request_id=1, **headers) -> httpx.Response:
        params = {"_meta": META, **(params or {})}
        return httpx.post(
            self.url,
            headers=self.headers(method, params, **headers),
            json=self.body(method, params, request_id),
            timeout=30,
        )

    def frames(self, method, params=None, request_id=1, **headers) -> list[dict]:
        """Every JSON-RPC message of the answer, a JSON body or an SSE stream alike."""
        response = self.post(method, params, request_id, **headers)
        if "text/event-stream" not in response.headers.get("content-type", ""):
            return [response.json()]
        return [
            json.loads(line[5:])
            for line in response.text.splitlines()
            if line.startswith("data:") and line[5:].strip()
        ]


def _sse_messages(response):
    for line in response.iter_lines():
        if line.startswith("data:") and line[5:].strip():
            yield json.loads(line[5:])


def test_removed_and_unknown_methods_are_404_with_the_request_id(edge):
    for request_id, method in enumerate(
        [
            "initialize",
            "ping",
            "logging/setLevel",
            "resources/subscribe",
            "resources/unsubscribe",
            "unknown/method",
        ],
        start=500,
    ):
        response = edge.post(method, {"uri": "test://static-text", "level": "info"}, request_id)
        assert response.status_code == 404, method
        assert response.json()["id"] == request_id
        assert response.json()["error"]["code"] == -32601


def test_handshake_era_clients_keep_ping_and_set_level(deployment, bob):
    token = deployment.token_for(bob)
    session_id = deployment.initialize(token)
    headers = deployment.headers(token, **{"Mcp-Session-Id": session_id})
    for request_id, (method, params) in enumerate(
        [("ping", {}), ("logging/setLevel", {"level": "info"})]
    ):
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        response = httpx.post(deployment.url, headers=headers, json=body)
        assert response.status_code == 200 and response.json()["result"] == {}
    unknown = {"jsonrpc": "2.0", "id": 9, "method": "unknown/method"}
    response = httpx.post(deployment.url, headers=headers, json=unknown)
    assert response.status_code == 200 and response.json()["error"]["code"] == -32601


def test_an_unsupported_version_names_the_supported_ones(edge):
    supported = edge.post("server/discover").json()["result"]["supportedVersions"]
    params = {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "v999.0.0"}}
    response = httpx.post(
        edge.url,
        headers=edge.headers("server/discover", params, **{"MCP-Protocol-Version": "v999.0.0"}),
        json=edge.body("server/discover", params, 301),
    )
    assert response.status_code == 400
    answer = response.json()
    assert answer["id"] == 301 and answer["error"]["code"] == -32022
    assert answer["error"]["data"]["requested"] == "v999.0.0"
    assert set(answer["error"]["data"]["supported"]) == set(supported)


@BOTH_ERAS
def test_a_capability_the_client_did_not_declare_is_a_400(edge):
    response = edge.post("tools/call", {"name": "test_missing_capability", "arguments": {}}, 401)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert response.json()["id"] == 401 and error["code"] == -32021
    assert error["data"]["requiredCapabilities"] == {"sampling": {}}


@BOTH_ERAS
def test_log_messages_reach_only_requests_that_ask_for_their_level(edge):
    call = {"name": "test_logging_tool", "arguments": {}}

    def logs(level):
        meta = META if level is None else {**META, "io.modelcontextprotocol/logLevel": level}
        frames = edge.frames("tools/call", {**call, "_meta": meta})
        assert frames[-1]["result"]["content"][0]["text"] == "logged"
        return [f for f in frames if f.get("method") == "notifications/message"]

    assert logs(None) == []
    assert logs("error") == []  # the tool logs at info
    (message,) = logs("debug")
    assert message["params"]["level"] == "info"


@BOTH_ERAS
def test_a_resource_read_carries_caching_hints(edge):
    result = edge.post("resources/read", {"uri": "test://static-text"}).json()["result"]
    assert result["ttlMs"] == 0 and result["cacheScope"] == "private"
    assert result["contents"][0]["uri"] == "test://static-text"


def test_a_handshake_era_resource_read_has_no_caching_hints(edge):
    session = httpx.post(
        edge.url,
        headers={
            "Authorization": f"Bearer {edge.token}",
            "Accept": "application/json, text/event-stream",
        },
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "old", "version": "1"},
            },
        },
    ).headers["mcp-session-id"]
    read = httpx.post(
        edge.url,
        headers={
            "Authorization": f"Bearer {edge.token}",
            "Accept": "application/json, text/event-stream",
            "Mcp-Session-Id": session,
            "MCP-Protocol-Version": "2025-11-25",
        },
        json={
            "jsonrpc": "2.0",
            "id": 2,
            "method": "resources/read",
            "params": {"uri": "test://static-text"},
        },
    )
    result = read.json()["result"]
    assert "ttlMs" not in result and "cacheScope" not in result


@BOTH_ERAS
def test_mcp_param_headers_are_checked_and_derived_for_the_upstream(edge):
    call = {"name": "test_header_param", "arguments": {"region": "eu-west"}}
    missing = edge.post("tools/call", call, 7)
    assert missing.status_code == 400 and missing.json()["id"] == 7
    assert missing.json()["error"]["code"] == -32020
    bad = edge.post("tools/call", call, 8, **{"Mcp-Param-Region": "=?base64?***?="})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == -32020
    other = edge.post("tools/call", call, 9, **{"Mcp-Param-Region": "us-east"})
    assert other.status_code == 400 and other.json()["error"]["code"] == -32020
    ok = edge.post("tools/call", call, 10, **{"Mcp-Param-Region": "eu-west"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"]["content"][0]["text"] == "region=eu-west"
    encoded = edge.post(
        "tools/call",
        {"name": "test_header_param", "arguments": {"region": "Zürich"}},
        11,
        **{"Mcp-Param-Region": "=?base64?WsO8cmljaA==?="},
    )
    assert encoded.json()["result"]["content"][0]["text"] == "region=Zürich"


@pytest.mark.parametrize("edge", ["conformance_modern_url"], indirect=True)
def test_mcp_param_headers_follow_the_arguments_the_request_rules_left(edge, deployment, alice):
    rule_services.create_rule(
        workspace=deployment.acme,
        actor=alice,
        name="redact-outgoing",
        detector="secrets",
        action="redact",
        direction="request",
    )
    secret = "ghp_" + "Qx7" * 12
    call = {"name": "test_header_param", "arguments": {"region": secret}}
    answer = edge.post("tools/call", call, 12, **{"Mcp-Param-Region": secret})
    # Had the client's header been copied, the upstream would see it disagree with the body.
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["content"][0]["text"] == "region=[REDACTED:GITHUB_PAT]"


def _listen(edge, notifications, trigger):
    """The listen stream's first message, then what came after `trigger()` (up to one more)."""
    params = {"_meta": META, "notifications": notifications}
    headers = edge.headers("subscriptions/listen", params)
    body = edge.body("subscriptions/listen", params, 77)
    seen = []
    timeout = httpx.Timeout(30, read=3)
    with httpx.stream("POST", edge.url, headers=headers, json=body, timeout=timeout) as response:
        assert response.status_code == 200
        messages = _sse_messages(response)
        seen.append(next(messages))
        trigger()
        with contextlib.suppress(httpx.ReadTimeout):  # nothing more came
            seen.append(next(messages))
    return seen


def _call(edge, tool):
    def trigger():
        response = edge.post("tools/call", {"name": tool, "arguments": {}})
        assert response.status_code == 200, response.text

    return trigger


@pytest.mark.parametrize("edge", ["conformance_modern_url"], indirect=True)
def test_a_listen_stream_is_acknowledged_tagged_and_filtered(edge):
    ack, changed = _listen(
        edge, {"toolsListChanged": True}, _call(edge, "test_trigger_tool_change")
    )
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"toolsListChanged": True}
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 77
    assert changed["method"] == "notifications/tools/list_changed"
    assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 77

    only_prompts = _listen(
        edge, {"promptsListChanged": True}, _call(edge, "test_trigger_tool_change")
    )
    assert [m["method"] for m in only_prompts] == ["notifications/subscriptions/acknowledged"]
    ack, changed = _listen(
        edge, {"promptsListChanged": True}, _call(edge, "test_trigger_prompt_change")
    )
    assert changed["method"] == "notifications/prompts/list_changed"


def test_a_listen_stream_hears_configuration_changes(edge, deployment, alice):
    edge.url = deployment.url  # acme/dev, whose assignments change below

    def trigger():
        gateway_services.update_assignment(
            assignment=deployment.full, tool_mode="none", actor=alice
        )

    ack, changed = _listen(
        edge, {"toolsListChanged": True, "resourceSubscriptions": ["x"]}, trigger
    )
    assert ack["params"]["notifications"] == {"toolsListChanged": True}
    assert changed["method"] == "notifications/tools/list_changed"
    assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 77


def test_a_listen_stream_needs_a_client_that_accepts_one(edge):
    response = edge.post(
        "subscriptions/listen",
        {"notifications": {"toolsListChanged": True}},
        5,
        Accept="application/json",
    )
    assert response.status_code == 406

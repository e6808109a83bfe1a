"""A gateway for the operators' metrics and traces tests, served by real uvicorn processes.

Gateway `acme/metered` reaches the benchmark's echo upstream under the namespace `a`, with a
request rule that blocks any `text` starting with `/etc`; bob calls it over raw HTTP with the
stateless 2026-07-28 `tools/call`, as the load tests do.
"""

import itertools
import json

import httpx
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS

from gateways import services as gateway_services
from identities import services as identity_services
from rules import services as rule_services
from servers import services as server_services
from teams.models import Membership
from tests.audit.load_run import META, Worker, worker_env

PATH = "/mcp/acme/metered"
_rpc_ids = itertools.count(1)


class ObservedGateway:
    def __init__(self, *, acme, alice, bob, upstream_url, settings, var_dir, env=None):
        server = server_services.create_server(
            workspace=acme, name="echo", url=upstream_url, actor=alice
        )
        gateway = gateway_services.create_gateway(
            workspace=acme, slug="metered", name="Metered", actor=alice
        )
        gateway_services.provision_teams(gateway=gateway, team_slugs=["eng"], actor=alice)
        gateway_services.assign_server(gateway=gateway, server=server, namespace="a", actor=alice)
        rule_services.create_rule(
            workspace=acme,
            actor=alice,
            name="no-etc",
            detector="tool",
            detector_config={"match": "a__*", "arguments": [{"path": "text", "prefix": "/etc"}]},
            action="block",
            direction="request",
        )
        membership = Membership.objects.get(workspace=acme, user=bob)
        self.token = identity_services.issue_token(
            membership=membership, name="observed", actor=bob
        ).secret
        self.env = {
            **worker_env(secret_key=settings.SECRET_KEY, var_dir=var_dir),
            "AUDIT_FLUSH_MS": "20",
            **(env or {}),
        }

    def worker(self) -> Worker:
        return Worker(self.env, PATH)


def call_tool(url: str, token: str, tool: str, arguments: dict) -> dict:
    """One `tools/call`; returns the JSON-RPC answer."""
    params = {"name": tool, "arguments": arguments, "_meta": META}
    return request(url, token, "tools/call", params, {"Mcp-Name": tool})


def request(url: str, token: str, method: str, params: dict, headers: dict | None = None) -> dict:
    """One JSON-RPC request of the 2026-07-28 revision; returns the JSON-RPC answer."""
    rpc_id = next(_rpc_ids)
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": method,
        **(headers or {}),
    }
    reply = httpx.post(url, content=json.dumps(body), headers=headers, timeout=30)
    answer = reply.json()
    # A 2026-07-28 error carries the HTTP status the SDK's table gives its code.
    code = (answer.get("error") or {}).get("code")
    assert reply.status_code == ERROR_CODE_HTTP_STATUS.get(code, 200), reply.text
    assert answer["id"] == rpc_id
    return answer


def make_calls(url: str, token: str, *, ok: int = 3) -> None:
    """`ok` successful calls, one JSON-RPC error (an unknown tool), one blocked by the rule."""
    for n in range(ok):
        answer = call_tool(url, token, "a__echo", {"text": f"hello {n}"})
        assert answer["result"]["content"][0]["text"] == f"hello {n}"
    assert call_tool(url, token, "a__nope", {"text": "x"})["error"]["code"] == -32602
    assert call_tool(url, token, "a__echo", {"text": "/etc/passwd"})["error"]["code"] == -32010

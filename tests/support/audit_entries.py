"""Log entries as the data plane hands them to the audit recorder."""

import itertools
import uuid

_rpc_ids = itertools.count(1)


def call_hops(workspace, *, user=None, gateway="dev", tool="time__now", payload=None, **extra):
    """The four hop entries of one successful tools/call, sharing one correlation id."""
    correlation = str(uuid.uuid4())
    base = {
        "workspace_id": workspace.pk,
        "correlation_id": correlation,
        "gateway_id": 7,
        "gateway_slug": gateway,
        "assignment_id": 3,
        "server_id": 5,
        "server_name": "time",
        "user_id": user.pk if user else None,
        "user_email": user.email if user else "",
        "token_id": 11,
        "session_id": "sealed-session-id",
        "client_name": "claude-code",
        "client_version": "2.1.0",
        "method": "tools/call",
        "rpc_id": next(_rpc_ids),
        "tool": tool,
        "upstream_tool": tool.split("__")[-1],
        "identity_scheme": "service_account",
        **extra,
    }
    request = payload or {"name": tool, "arguments": {"zone": "UTC"}}
    return [
        {**base, "hop": "client.request", "payload": request},
        {**base, "hop": "upstream.request", "payload": request},
        {
            **base,
            "hop": "upstream.response",
            "payload": {"content": [{"text": "noon"}]},
            "latency_ms": 4.25,
        },
        {
            **base,
            "hop": "client.response",
            "payload": {"content": [{"text": "noon"}]},
            "latency_ms": 5.5,
        },
    ]

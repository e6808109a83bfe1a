"""The four audit log entries of one tools/call exchange, as the data plane records them."""

import uuid


def exchange(workspace_id: int, user_id: int, email: str, call: int) -> list[dict]:
    """`client.request`, `upstream.request`, `upstream.response` and `client.response` of call
    number `call`, sharing one correlation id, with small JSON payloads."""
    base = {
        "workspace_id": workspace_id,
        "correlation_id": str(uuid.uuid4()),
        "gateway_id": 1,
        "gateway_slug": "tools",
        "user_id": user_id,
        "user_email": email,
        "method": "tools/call",
        "rpc_id": call,
        "tool": "a__echo",
        "upstream_tool": "echo",
    }
    request = {"name": "a__echo", "arguments": {"text": f"hello {call}"}}
    answer = {"content": [{"type": "text", "text": f"hello {call}"}]}
    return [
        {**base, "hop": hop, "payload": payload}
        for hop, payload in (
            ("client.request", request),
            ("upstream.request", request),
            ("upstream.response", answer),
            ("client.response", answer),
        )
    ]

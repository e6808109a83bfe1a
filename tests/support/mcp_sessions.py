"""Raw JSON-RPC over HTTP to a gateway worker, and handshake-era sessions opened that way, for
tests that call several worker processes directly."""

import httpx


def post(http, url, headers, request_id, method, params=None) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
    return http.post(url, headers=headers, json=body)


def open_session(http, deployment, url, secret, *, client="test") -> dict:
    """Headers of a handshake-era session opened on `url` with `secret`."""
    headers = deployment.headers(secret)
    init = post(
        http,
        url,
        headers,
        1,
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": client, "version": "1"},
        },
    )
    assert init.status_code == 200, init.text
    return {
        **headers,
        "Mcp-Session-Id": init.headers["mcp-session-id"],
        "MCP-Protocol-Version": "2025-06-18",
    }

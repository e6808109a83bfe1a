"""The benchmark's upstream: a minimal, fast MCP server as a raw ASGI app.

It offers one tool, `echo`, answers in plain JSON (never SSE) and keeps no state, so that under
uvicorn with httptools and uvloop it is never the bottleneck of a measurement. It speaks just
enough of both protocol eras for the gateway's upstream client: `server/discover` announces
2026-07-28 (which the client probes first), and `initialize` works for handshake-era callers.
An unknown tool is a JSON-RPC error, so a caller that forgets to strip a namespace is caught.
"""

import json

VERSION = "2026-07-28"
CAPABILITIES = {"tools": {}}
ECHO_TOOL = {
    "name": "echo",
    "description": "Echo the text back.",
    "inputSchema": {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
    "annotations": {"readOnlyHint": True},
}
_JSON = [(b"content-type", b"application/json")]


def _result(request_id, result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def answer(message: dict) -> dict:
    request_id, method = message.get("id"), message.get("method")
    params = message.get("params") or {}
    if method == "tools/call":
        if params.get("name") != "echo":
            return _error(request_id, -32602, f"Unknown tool: {params.get('name')}")
        text = str((params.get("arguments") or {}).get("text", ""))
        return _result(
            request_id,
            {
                "content": [{"type": "text", "text": text}],
                "isError": False,
                "resultType": "complete",
            },
        )
    if method == "server/discover":
        return _result(
            request_id,
            {
                "supportedVersions": [VERSION],
                "capabilities": CAPABILITIES,
                "resultType": "complete",
                "ttlMs": 60000,
                "cacheScope": "public",
                "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "echo", "version": "1"}},
            },
        )
    if method == "tools/list":
        return _result(
            request_id,
            {
                "tools": [ECHO_TOOL],
                "resultType": "complete",
                "ttlMs": 60000,
                "cacheScope": "public",
            },
        )
    if method == "initialize":
        return _result(
            request_id,
            {
                "protocolVersion": params.get("protocolVersion") or "2025-11-25",
                "capabilities": CAPABILITIES,
                "serverInfo": {"name": "echo", "version": "1"},
            },
        )
    if method == "ping":
        return _result(request_id, {})
    return _error(request_id, -32601, f"Method not found: {method}")


async def _send(send, status: int, body: bytes = b"", headers=()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] != "POST":
        # No GET stream and no sessions: the gateway's client takes 405 as "nothing to follow".
        await _send(send, 405, headers=[(b"allow", b"POST")])
        return
    chunks = []
    while True:
        event = await receive()
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            break
    try:
        message = json.loads(b"".join(chunks))
    except ValueError:
        await _send(send, 400, json.dumps(_error(None, -32700, "Parse error")).encode(), _JSON)
        return
    if not isinstance(message, dict) or "id" not in message:
        await _send(send, 202)  # notifications and answers need no reply
        return
    body = json.dumps(answer(message), separators=(",", ":")).encode()
    await _send(send, 200, body, _JSON)

"""The soak benchmark's misbehaving upstreams, as one raw ASGI app run under uvicorn.

`SOAK_UPSTREAM_KIND` picks the behaviour:

* `healthy`: bench/upstream.py's `echo` server, answering at once. The flapping upstream is
  this same server, stopped and restarted on a schedule by bench/soak.py.
* `large`: offers `blob`, whose result is one text of `arguments.bytes` bytes (plain words, so
  the rules scan something realistic); texts are built once per size and kept.
* `hanging`: accepts every connection and reads every request, then never answers anything,
  `server/discover` and `tools/list` included.
"""

import json
import os

from upstream import _JSON, _error, _result, _send, answer

KIND = os.environ.get("SOAK_UPSTREAM_KIND", "healthy")
BLOB_TOOL = {
    "name": "blob",
    "description": "A text of the given size in bytes.",
    "inputSchema": {
        "type": "object",
        "properties": {"bytes": {"type": "integer"}},
        "required": ["bytes"],
    },
    "annotations": {"readOnlyHint": True},
}
_WORDS = b"the quick brown fox jumps over the lazy dog while the gateway keeps count "
_BLOBS: dict[int, str] = {}


def _blob(size: int) -> str:
    if size not in _BLOBS:
        _BLOBS[size] = (_WORDS * (size // len(_WORDS) + 1))[:size].decode()
    return _BLOBS[size]


def answer_large(message: dict) -> dict:
    request_id, method = message.get("id"), message.get("method")
    params = message.get("params") or {}
    if method == "tools/list":
        return _result(request_id, {"tools": [BLOB_TOOL], "resultType": "complete"})
    if method == "tools/call":
        if params.get("name") != "blob":
            return _error(request_id, -32602, f"Unknown tool: {params.get('name')}")
        size = (params.get("arguments") or {}).get("bytes")
        if not isinstance(size, int) or not 0 <= size <= 64 * 1024 * 1024:
            return _error(request_id, -32602, "bytes must be an integer up to 64 MB")
        content = [{"type": "text", "text": _blob(size)}]
        return _result(request_id, {"content": content, "isError": False})
    reply = answer(message)
    if method == "server/discover":
        reply["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] = "large"
    return reply


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive) -> bytes:
    chunks = []
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return b""
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            return b"".join(chunks)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if KIND == "hanging":
        await _body(receive)
        # Never answer: wait for the disconnect, which only the caller can bring about.
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    if scope["method"] != "POST":
        await _send(send, 405, headers=[(b"allow", b"POST")])
        return
    try:
        message = json.loads(await _body(receive))
    except ValueError:
        await _send(send, 400, json.dumps(_error(None, -32700, "Parse error")).encode(), _JSON)
        return
    if not isinstance(message, dict) or "id" not in message:
        await _send(send, 202)
        return
    reply = answer_large(message) if KIND == "large" else answer(message)
    await _send(send, 200, json.dumps(reply, separators=(",", ":")).encode(), _JSON)

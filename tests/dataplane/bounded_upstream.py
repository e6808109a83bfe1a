"""A raw upstream MCP server that pushes a gateway's call bounds, on a real socket.

Written without the SDK so it can misbehave on purpose and say what it received: `flood`
reports progress every 0.2 s and never answers, `big` answers a result of the size asked for
(streamed from one filler chunk, so fifty megabytes cost this process almost nothing), and
`files.read_text` has a name with a dot. `/handshake/mcp` speaks the handshake era (a session,
`notifications/cancelled`), `/modern/mcp` only 2026-07-28 (the closed connection is the
cancellation). Each instance records the messages it received and the streams whose client
went away, and sets `went_away` for each (`cancelled` for each cancellation).
"""

import asyncio
import json
import threading
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODERN = "2026-07-28"
HANDSHAKE = "2025-11-25"
_FILLER = b"x" * (64 * 1024)

TOOLS = [
    {
        "name": "flood",
        "description": "Reports progress for ever.",
        "inputSchema": {"type": "object"},
    },
    {
        "name": "files.read_text",
        "description": "Reads a file.",
        "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
    {
        "name": "big",
        "description": "A result of `size` bytes.",
        "inputSchema": {"type": "object", "properties": {"size": {"type": "integer"}}},
    },
]


class BoundedUpstream:
    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.gone: list[tuple[str, object]] = []  # (era, request id) of streams the client left
        self.went_away = threading.Event()
        self.cancelled = threading.Event()
        self.app = Starlette(
            routes=[
                Route("/{era}/mcp", self.post, methods=["POST"]),
                Route("/{era}/mcp", self.other, methods=["GET", "DELETE"]),
            ]
        )

    def cancellations(self) -> list[dict]:
        return [m for _, m in self.received if m.get("method") == "notifications/cancelled"]

    async def other(self, request: Request) -> Response:
        return Response(status_code=405 if request.method == "GET" else 200)

    async def post(self, request: Request) -> Response:
        era = request.path_params["era"]
        message = json.loads(await request.body())
        self.received.append((era, message))
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            if method == "notifications/cancelled":
                self.cancelled.set()
            return Response(status_code=202)
        if method == "initialize":
            if era == "modern":
                return _error(request_id, -32601, "initialize is not spoken here")
            result = {
                "protocolVersion": HANDSHAKE,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "bounded", "version": "1"},
            }
            return _result(request_id, result, {"Mcp-Session-Id": uuid.uuid4().hex})
        if method == "server/discover":
            return _result(
                request_id, {"supportedVersions": [MODERN], "capabilities": {"tools": {}}}
            )
        if method == "tools/list":
            return _result(request_id, {"tools": TOOLS})
        if method == "tools/call":
            params = message.get("params") or {}
            name, arguments = params.get("name"), params.get("arguments") or {}
            if name == "flood":
                return self._flood(era, request_id, params)
            if name == "files.read_text":
                text = f"contents of {arguments.get('path', '?')}"
                return _result(request_id, {"content": [{"type": "text", "text": text}]})
            if name == "big":
                return _big(request_id, int(arguments.get("size", 0)))
        return _error(request_id, -32601, f"unknown: {method}")

    def _flood(self, era: str, request_id, params: dict) -> StreamingResponse:
        token = (params.get("_meta") or {}).get("progressToken", "flood")

        async def events():
            step = 0
            try:
                while True:
                    step += 1
                    progress = {
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {"progressToken": token, "progress": step},
                    }
                    yield f"event: message\ndata: {json.dumps(progress)}\n\n".encode()
                    await asyncio.sleep(0.2)
            finally:
                # The server cancels the generator when the client closed the connection.
                self.gone.append((era, request_id))
                self.went_away.set()

        return StreamingResponse(events(), media_type="text/event-stream")


def _result(request_id, result: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result}, headers=headers)


def _error(request_id, code: int, message: str) -> JSONResponse:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return JSONResponse(body)


def _big(request_id, size: int) -> StreamingResponse:
    """`{"jsonrpc":..., "result": {"content": [{"type": "text", "text": "xxx..."}]}}`."""
    head = json.dumps({"jsonrpc": "2.0", "id": request_id}).encode()[:-1]
    head += b',"result":{"content":[{"type":"text","text":"'
    tail = b'"}]}}'

    async def body():
        yield head
        left = size
        while left > 0:
            chunk = _FILLER[: min(left, len(_FILLER))]
            left -= len(chunk)
            yield chunk
        yield tail

    length = len(head) + size + len(tail)
    return StreamingResponse(
        body(), media_type="application/json", headers={"Content-Length": str(length)}
    )

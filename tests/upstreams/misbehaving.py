"""A small MCP upstream (JSON answers, one tool `ping`) that a test can make misbehave while the
gateway talks to it: hang (accept the request and never answer until released), refuse
`resources/templates/list` with -32601, or fail tool calls with HTTP 503.

It runs in the test process (``tests.support.live.ThreadedServer``), so the test flips its
behaviour directly and reads what it received.
"""

import asyncio
import threading
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.live import ThreadedServer


class MisbehavingUpstream:
    def __init__(self, *, hung=False, templates_refused=False, failing_calls=0):
        self.failing_calls = failing_calls
        self.templates_refused = templates_refused
        self.received: list[str] = []  # methods answered, in order
        self.arrived: list[str] = []  # methods received, held ones included
        self.deleted = threading.Event()
        self._lock = threading.Lock()
        self._hung = hung
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.server = ThreadedServer(
            Starlette(routes=[Route("/mcp", self._endpoint, methods=["GET", "POST", "DELETE"])])
        )

    @property
    def url(self) -> str:
        return f"{self.server.url}/mcp"

    def start(self) -> "MisbehavingUpstream":
        self.server.start()
        return self

    def stop(self) -> None:
        self.release()
        self.server.stop()

    def hang(self) -> None:
        """Hold every request from now on, until `release`."""
        with self._lock:
            self._hung, self._release = True, None

    def release(self) -> None:
        """Answer from now on, the requests held so far included."""
        with self._lock:
            self._hung = False
            if self._release is not None:
                self._loop.call_soon_threadsafe(self._release.set)

    def count(self, method: str) -> int:
        return self.received.count(method)

    async def _held(self) -> None:
        with self._lock:
            if not self._hung:
                return
            if self._release is None:
                self._loop, self._release = asyncio.get_running_loop(), asyncio.Event()
            release = self._release
        await release.wait()

    async def _endpoint(self, request: Request) -> Response:
        if request.method == "GET":
            return Response(status_code=405)  # no stream of its own
        if request.method == "DELETE":
            self.deleted.set()
            return Response(status_code=200)
        message = await request.json()
        self.arrived.append(message.get("method", ""))
        await self._held()
        method = message.get("method", "")
        self.received.append(method)
        if "id" not in message:
            return Response(status_code=202)
        return self._answer(message["id"], method)

    def _answer(self, request_id, method: str) -> Response:
        headers = {}
        if method == "initialize":
            result = {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}, "resources": {}},
                "serverInfo": {"name": "misbehaving", "version": "1"},
            }
            headers["mcp-session-id"] = uuid.uuid4().hex
        elif method == "tools/list":
            result = {"tools": [{"name": "ping", "inputSchema": {"type": "object"}}]}
        elif method == "resources/list":
            result = {"resources": [{"uri": "memo://one", "name": "one"}]}
        elif method == "resources/templates/list" and self.templates_refused:
            error = {"code": -32601, "message": "Method not found"}
            return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": error})
        elif method == "resources/templates/list":
            result = {"resourceTemplates": [{"uriTemplate": "memo://{id}", "name": "memo"}]}
        elif method == "tools/call" and self.failing_calls:
            self.failing_calls -= 1
            return Response("overloaded", status_code=503, media_type="text/plain")
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": "pong"}]}
        else:
            error = {"code": -32601, "message": "Method not found"}
            return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": error})
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result}, headers=headers)

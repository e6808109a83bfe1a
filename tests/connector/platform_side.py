"""The platform's side of the tunnel, played by a real WebSocket server on 127.0.0.1.

It runs on its own event loop in a thread; a test reads the frames each connection received
and sends frames through thread-safe calls.
"""

import asyncio
import json
import queue
import threading
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

TOKEN = "gth_connector_test_token"


class Connection:
    def __init__(self, platform: "Platform", ws: ServerConnection):
        self.platform = platform
        self.ws = ws
        self.frames: queue.Queue[dict[str, Any]] = queue.Queue()
        self.received: list[dict[str, Any]] = []
        self.closed = threading.Event()

    def next(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next frame of `kind` (and matching `match`), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} frame {match or ''} within {timeout} s")
            try:
                frame = self.frames.get(timeout=remaining)
            except queue.Empty:
                continue
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame

    def reply(self, session: str, request_id: int, timeout: float = 15.0) -> dict[str, Any]:
        """The JSON-RPC answer to `request_id` relayed from the session's server."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next("message", timeout=max(deadline - time.monotonic(), 0.01))
            message = frame["message"]
            if frame["session"] == session and message.get("id") == request_id:
                return message

    def send(self, frame: dict[str, Any]) -> None:
        self.platform.call(self.ws.send(json.dumps(frame)))

    def close(self, code: int, reason: str = "") -> None:
        self.platform.call(self.ws.close(code, reason))

    def drop(self) -> None:
        """Cut the connection without a closing handshake, as a dead network does."""
        self.platform.loop.call_soon_threadsafe(self.ws.transport.abort)


class Platform:
    def __init__(self, *, offered: list[dict[str, Any]], heartbeat_seconds: int = 15):
        self.offered = offered
        self.heartbeat_seconds = heartbeat_seconds
        self.connections: queue.Queue[Connection] = queue.Queue()
        self.raw: list[str] = []  # every text frame received, for what must never be sent
        self.authorizations: list[str | None] = []
        self.close_after_hello: tuple[int, str] | None = None
        self.refuse_handshake: int | None = None  # an HTTP status that refuses the upgrade
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None

    def start(self) -> "Platform":
        self.thread.start()
        self.server = self.call(self._listen())
        return self

    async def _listen(self):
        return await serve(
            self._handle, "127.0.0.1", 0, ping_interval=None, process_request=self._refuse
        )

    def _refuse(self, connection, request):
        self.authorizations.append(request.headers.get("Authorization"))
        if self.refuse_handshake is not None:
            return connection.respond(self.refuse_handshake, "refused\n")
        return None

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def call(self, coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def next_connection(self, timeout: float = 15.0) -> Connection:
        try:
            return self.connections.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the connector did not connect within {timeout} s") from None

    def stop(self) -> None:
        async def close():
            self.server.close()
            await self.server.wait_closed()

        self.call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    async def _handle(self, ws: ServerConnection) -> None:
        connection = Connection(self, ws)
        authorization = ws.request.headers.get("Authorization")
        self.connections.put(connection)
        if authorization != f"Bearer {TOKEN}":
            await ws.close(4401, "invalid token")
            return
        try:
            async for text in ws:
                self.raw.append(text)
                frame = json.loads(text)
                connection.received.append(frame)
                connection.frames.put(frame)
                if frame["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif frame["type"] == "hello":
                    if self.close_after_hello:
                        code, reason = self.close_after_hello
                        if code in (4409, 4410):
                            await ws.send(json.dumps({"type": "bye", "reason": reason}))
                        await ws.close(code, reason)
                        return
                    await ws.send(json.dumps(self._welcome(frame)))
        except Exception:  # noqa: BLE001 - a dropped connection ends the handler
            pass
        finally:
            connection.closed.set()

    def _welcome(self, hello: dict[str, Any]) -> dict[str, Any]:
        names = {spec["name"] for spec in self.offered}
        return {
            "type": "welcome",
            "connector": 1,
            "heartbeat_seconds": self.heartbeat_seconds,
            "serving": [name for name in hello["servers"] if name in names],
            "offered": self.offered,
        }

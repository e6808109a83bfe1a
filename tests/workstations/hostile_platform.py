"""A platform that turned hostile, for the connector's own refusals: a WebSocket server at
`/connect/ws` that speaks the tunnel's frames and asks the workstation to run whatever it likes.

The real platform routes only what a connector serves; this one does not, so a test can prove
that the workstation, not the platform, decides what runs."""

import asyncio
import json
import threading

from websockets.asyncio.server import serve

from tests.support.processes import free_port


class HostilePlatform:
    """Serves one connector in a thread; `script(ws)` is the coroutine that talks to it."""

    def __init__(self, script):
        self.script = script
        self.port = free_port()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.result = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "HostilePlatform":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the hostile platform did not start")
        return self

    async def _serve(self):
        finished = asyncio.Event()

        async def handler(ws):
            try:
                self.result = await self.script(Tunnel(ws))
            except BaseException as error:  # the test reads it back on its own thread
                self.error = error
            finally:
                finished.set()
                self.done.set()

        async with serve(handler, "127.0.0.1", self.port):
            self._ready.set()
            await finished.wait()

    def outcome(self, timeout: float = 60.0):
        if not self.done.wait(timeout):
            raise AssertionError("the connector never finished talking to the platform")
        if self.error is not None:
            raise self.error
        return self.result


class Tunnel:
    """The platform's side of one connector's socket."""

    def __init__(self, ws):
        self.ws = ws

    @property
    def authorization(self) -> str:
        return self.ws.request.headers.get("Authorization", "")

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def receive(self, kind: str, *, session: str | None = None, timeout: float = 20.0):
        """The next frame of `kind` (for `session`), answering heartbeats on the way."""
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("type") == "ping":
                    await self.send({"type": "pong"})
                    continue
                if frame.get("type") == kind and session in (None, frame.get("session")):
                    return frame

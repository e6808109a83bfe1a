"""A small connector for the tests: dials `/connect/ws` with a `websockets` client, speaks the
frames of the tunnel, and runs tests/workstations/stdio_server.py as a child per session.

It runs on a thread of its own (its own event loop), so a test drives MCP clients beside it.
"""

import asyncio
import contextlib
import json
import os
import sys
import threading
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

SERVER = Path(__file__).with_name("stdio_server.py")


class FakeConnector:
    def __init__(self, base: str, token: str, servers: list[str], *, mark: str, host="ws-host"):
        self.url = base.replace("http://", "ws://") + "/connect/ws"
        self.token, self.servers, self.mark, self.host = token, servers, mark, host
        self.welcome: dict | None = None
        self.bye: dict | None = None
        self.close_code: int | None = None
        self.frames: list[dict] = []
        self.children: dict[str, asyncio.subprocess.Process] = {}
        self.started: list[asyncio.subprocess.Process] = []
        self._relays: set[asyncio.Task] = set()
        self.answer_pings = True
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    # -- driving it from the test -------------------------------------------------------------

    def start(self, *, timeout: float = 15) -> "FakeConnector":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the connector got neither a welcome nor a close")
        return self

    def wait_closed(self, timeout: float = 15) -> int | None:
        self._closed.wait(timeout)
        return self.close_code

    def stop(self) -> None:
        """Drop the socket at once (as a crashed or unplugged connector does)."""
        if not self._closed.is_set() and self._socket is not None:
            with contextlib.suppress(RuntimeError):  # its loop may just have ended
                asyncio.run_coroutine_threadsafe(self._socket.close(), self._loop)
        self._closed.wait(10)
        self._thread.join(10)

    def pids(self) -> list[int]:
        return [child.pid for child in self.children.values()]

    # -- the connector ---------------------------------------------------------------------

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with connect(self.url, additional_headers=headers) as socket:
                self._socket = socket
                await self._send(
                    {
                        "type": "hello",
                        "version": "0.1.0",
                        "host": self.host,
                        "servers": self.servers,
                    }
                )
                async for text in socket:
                    await self._on_frame(json.loads(text))
        except ConnectionClosed:
            pass
        finally:
            if self._socket is not None and self._socket.close_code is not None:
                self.close_code = self._socket.close_code
            for child in self.started:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
            for relay in self._relays:
                relay.cancel()
            await asyncio.gather(*self._relays, return_exceptions=True)
            self._ready.set()
            self._closed.set()

    async def _send(self, frame: dict) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._socket.send(json.dumps(frame))

    async def _on_frame(self, frame: dict) -> None:
        self.frames.append(frame)
        kind = frame.get("type")
        if kind == "welcome":
            self.welcome = frame
            self._ready.set()
        elif kind == "ping" and self.answer_pings:
            await self._send({"type": "pong"})
        elif kind == "bye":
            self.bye = frame
        elif kind == "open":
            await self._open(frame["session"], frame["server"])
        elif kind == "message":
            child = self.children.get(frame["session"])
            if child is not None and child.returncode is None:
                child.stdin.write(json.dumps(frame["message"]).encode() + b"\n")
                with contextlib.suppress(ConnectionError):
                    await child.stdin.drain()
        elif kind == "close":
            child = self.children.pop(frame["session"], None)
            if child is not None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()

    async def _open(self, sid: str, server: dict) -> None:
        if server["name"] not in self.servers:
            await self._send({"type": "closed", "session": sid, "reason": "not allowed"})
            return
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", ""), "WS_MARK": self.mark},
            limit=16 * 1024 * 1024,
        )
        self.children[sid] = child
        self.started.append(child)
        await self._send({"type": "opened", "session": sid})
        relay = asyncio.get_running_loop().create_task(self._relay(sid, child))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)

    async def _relay(self, sid: str, child) -> None:
        while True:
            line = await child.stdout.readline()
            if not line:
                break
            with contextlib.suppress(ValueError):
                message = json.loads(line)
                await self._send({"type": "message", "session": sid, "message": message})
        code = await child.wait()
        if self.children.get(sid) is child:
            del self.children[sid]
            await self._send({"type": "closed", "session": sid, "reason": f"exited ({code})"})

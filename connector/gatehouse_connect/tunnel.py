"""The WebSocket tunnel to the platform: hello, welcome, heartbeats, sessions, reconnects."""

import asyncio
import contextlib
import os
import random
import socket
import threading
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from gatehouse_connect import __version__, frames
from gatehouse_connect.allowlist import Allowlist, ConfigError, describe, difference
from gatehouse_connect.display import printable, say
from gatehouse_connect.http_server import HttpSession
from gatehouse_connect.stdio_server import StdioSession

EXIT_STOPPED = 0
EXIT_TOKEN_REFUSED = 3
EXIT_REPLACED = 4

DEFAULT_HEARTBEAT = 15.0
BACKOFF_CAP = 60.0
# The first retry waits up to this long; tests set it small through the environment.
BACKOFF_INITIAL = float(os.environ.get("GATEHOUSE_CONNECT_BACKOFF_SECONDS", "1"))
# A connection that stayed up this long starts the backoff over.
STABLE_SECONDS = 30.0


class Stop(Exception):
    """Stop connecting and exit with `code`."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


def backoff_delay(
    attempt: int, *, initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_CAP
) -> float:
    """Full jitter: uniform between 0 and the capped exponential, so reconnects spread out."""
    return random.uniform(0, min(cap, initial * 2**attempt))  # noqa: S311 - not a secret


class Connector:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        allowlist: Allowlist,
        allow: list[str],
        prompt: bool,
        heartbeat: float | None,
    ):
        self.url = url
        self.token = token
        self.allowlist = allowlist
        self.allow = set(allow)
        self.prompt = prompt
        self.heartbeat_override = heartbeat
        self.heartbeat = heartbeat or DEFAULT_HEARTBEAT
        self.host = socket.gethostname()
        self.offered: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, StdioSession | HttpSession] = {}
        self.stopping: set[asyncio.Task] = set()
        self.declined: set[tuple[str, str]] = set()
        self.reported: set[tuple[str, str]] = set()
        self.socket: ClientConnection | None = None
        self.last_heard = time.monotonic()
        self.bye_reason: str | None = None
        self.welcomed = asyncio.Event()

    async def run(self) -> int:
        """Connect, serve, and reconnect until refused, replaced or stopped."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                await self._connect_once()
                reason = "the connection closed"
            except Stop as stop:
                say(str(stop))
                return stop.code
            except InvalidStatus as error:
                status = error.response.status_code
                if status in (401, 403):
                    say(f"token refused (HTTP {status}); not retrying")
                    return EXIT_TOKEN_REFUSED
                reason = f"the platform answered HTTP {status}"
            except (OSError, WebSocketException, TimeoutError) as error:
                reason = f"cannot connect to {self.url}: {error or type(error).__name__}"
            finally:
                await self._stop_sessions()
            if time.monotonic() - started >= STABLE_SECONDS:
                attempt = 0
            delay = backoff_delay(attempt)
            attempt = min(attempt + 1, 16)
            say(f"{reason}; reconnecting in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with connect(
            self.url,
            additional_headers=headers,
            user_agent_header=f"gatehouse-connect/{__version__}",
            ping_interval=None,  # heartbeats are frames, so the platform sees them
            open_timeout=15,
            max_size=64 * 1024 * 1024,
        ) as ws:
            self.socket = ws
            self.bye_reason = None
            self.welcomed.clear()
            self.last_heard = time.monotonic()
            await self._send_hello()
            heartbeats = asyncio.create_task(self._heartbeats(ws))
            try:
                await self._receive(ws)
            except ConnectionClosed:
                pass
            finally:
                heartbeats.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeats
                self.socket = None
            self._after_close(ws)

    def _after_close(self, ws: ClientConnection) -> None:
        code = ws.close_code
        if code == frames.REPLACED or (self.bye_reason and "replaced" in self.bye_reason.lower()):
            raise Stop(EXIT_REPLACED, "replaced by a newer connector with this token; exiting")
        if code in frames.TOKEN_REFUSED or self.bye_reason is not None:
            detail = self.bye_reason or ws.close_reason or f"close code {code}"
            raise Stop(EXIT_TOKEN_REFUSED, f"token refused ({detail}); not retrying")

    async def _receive(self, ws: ClientConnection) -> None:
        async for text in ws:
            self.last_heard = time.monotonic()
            try:
                frame = frames.parse(text)
            except frames.FrameError as error:
                say(f"ignored a frame from the platform: {error}")
                continue
            await self._handle(frame)

    async def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            await self._send(frames.pong())
        elif kind == "pong":
            pass
        elif kind == "welcome":
            await self._welcome(frame)
        elif kind == "open":
            await self._open(frame)
        elif kind == "message":
            session = self.sessions.get(str(frame.get("session")))
            if session is not None and isinstance(frame.get("message"), dict):
                await session.deliver(frame["message"])
        elif kind == "close":
            session = self.sessions.pop(str(frame.get("session")), None)
            if session is not None:
                # Stopping waits out the child's grace period; frames keep flowing meanwhile.
                task = asyncio.create_task(session.stop())
                self.stopping.add(task)
                task.add_done_callback(self.stopping.discard)
        elif kind == "bye":
            self.bye_reason = str(frame.get("reason") or "bye")

    async def _send(self, frame: dict[str, Any]) -> None:
        ws = self.socket
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(frames.encode(frame))

    async def _send_hello(self) -> None:
        await self._send(
            frames.hello(version=__version__, host=self.host, servers=self.allowlist.names())
        )

    async def _heartbeats(self, ws: ClientConnection) -> None:
        """Ping every interval; a platform silent for three intervals is taken as gone."""
        while True:
            await asyncio.sleep(self.heartbeat)
            if time.monotonic() - self.last_heard > 3 * self.heartbeat:
                say("heartbeat lost")
                await ws.close(code=1001, reason="heartbeat lost")
                return
            await self._send(frames.ping())

    async def _welcome(self, frame: dict[str, Any]) -> None:
        seconds = frame.get("heartbeat_seconds")
        if isinstance(seconds, int | float) and seconds > 0:
            self.heartbeat = min(float(seconds), self.heartbeat_override or float(seconds))
        offered = frame.get("offered") if isinstance(frame.get("offered"), list) else []
        self.offered = {
            str(spec["name"]): spec
            for spec in offered
            if isinstance(spec, dict) and spec.get("name")
        }
        first = not self.welcomed.is_set()
        self.welcomed.set()
        if await self._review_offers(first=first):
            await self._send_hello()  # the platform answers with a new welcome
            return
        serving = [str(name) for name in frame.get("serving") or []]
        say(f"connected as {self.host}, serving {', '.join(serving) if serving else 'nothing'}")

    async def _review_offers(self, *, first: bool) -> bool:
        """Approve what `--allow` names or the person accepts; True if the allowed set changed.

        `--allow` approves only a name the config file does not hold yet. A changed offer under
        an approved name is never taken unasked: a reconnect (or a restart by a service manager
        with the same flags) would otherwise run whatever the platform now says.
        """
        changed = False
        for name, spec in sorted(self.offered.items()):
            if self.allowlist.permits(name, spec):
                continue
            before = self.allowlist.allowed.get(name)
            approved = name in self.allow and before is None
            offer = (name, describe(spec))
            if not approved and self.prompt and offer not in self.declined:
                approved = await _ask(name, spec, before=before)
                if not approved:
                    self.declined.add(offer)  # asked once per run, not at every welcome
            if approved:
                try:
                    self.allowlist.approve(name, spec)
                except ConfigError as error:
                    say(str(error))
                    continue
                say(f"allowed {name}: {describe(spec)} (saved in {self.allowlist.path})")
                changed = True
            elif offer not in self.reported:
                self.reported.add(offer)  # once per offer and run, not at every welcome
                say(self._not_allowed_line(name, spec, before))
        if first:
            for name in sorted(self.allow - set(self.offered)):
                say(f"--allow {name}: the platform offers no server named {name}")
        return changed

    def _not_allowed_line(self, name: str, spec: dict[str, Any], before: dict | None) -> str:
        """What the person reads about an offer this workstation does not serve, and the fix."""
        if before is None:
            return (
                f"{name} offered: {describe(spec)}; not allowed here "
                f"(run gatehouse-connect ... --allow {name} to serve it)"
            )
        return (
            f"{name} changed on the platform: {difference(before, spec)}; "
            f"allowed: {describe(before)}; now offered: {describe(spec)}; not serving the change "
            f"(to accept it, answer y at a terminal, or remove {name} from "
            f"{self.allowlist.path} and run with --allow {name})"
        )

    async def _open(self, frame: dict[str, Any]) -> None:
        sid = str(frame.get("session") or "")
        spec = frame.get("server") if isinstance(frame.get("server"), dict) else {}
        name = str(spec.get("name") or "")
        if not sid:
            return
        why = self.allowlist.refusal(name, spec)
        if why is not None:
            say(f"refused {name}: {why} ({describe(spec)})")
            fix = (
                f"run gatehouse-connect ... --allow {name}"
                if name not in self.allowlist.allowed
                else "the change must be approved on the workstation"
            )
            reason = f"'{name}' is not allowed on this workstation ({why}); {fix}"
            await self._send(frames.closed(sid, reason))
            return
        if sid in self.sessions:
            await self.sessions.pop(sid).stop()
        # Run what is on file, not what the frame says: they are equal, and this way the env
        # keys a child reads can only ever be the approved ones.
        approved = {"name": name, **self.allowlist.allowed[name]}
        kind = HttpSession if approved.get("url") else StdioSession
        session = kind(sid=sid, name=name, spec=approved, send=self._send)
        failure = await session.start()
        if failure is not None:
            say(failure)
            await self._send(frames.closed(sid, failure))
            return
        self.sessions[sid] = session
        say(f"serving {name} (session {sid})")
        await self._send(frames.opened(sid))

    async def _stop_sessions(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(
            *(session.stop() for session in sessions), *self.stopping, return_exceptions=True
        )

    async def shutdown(self) -> None:
        await self._stop_sessions()
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()


async def _ask(name: str, spec: dict[str, Any], *, before: dict[str, Any] | None) -> bool:
    """Ask the person at the terminal whether to serve `name` as offered (y/N)."""
    change = f" (changed since you allowed it: {describe(before)})" if before else ""
    question = printable(f"Serve '{name}'{change}: {describe(spec)}? [y/N] ")
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            line = input(question)
        except (EOFError, OSError):
            line = ""
        loop.call_soon_threadsafe(lambda: answer.done() or answer.set_result(line))

    # A daemon thread: a stop (SIGTERM) while the question waits must not wait for an answer.
    threading.Thread(target=read, name="prompt", daemon=True).start()
    return (await answer).strip().lower() in ("y", "yes")

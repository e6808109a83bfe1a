"""`WorkstationSession`: an MCP session with a server that a person's connector runs, spoken
over the channel layer to the connector's consumer (dataplane/workstation_tunnel.py).

It has the interface of `servers.upstream.UpstreamSession`, so the pool, the catalog and the
call step use it unchanged. Each session has an id (`sid`) of its own; the connector starts a
fresh child per `open`. Several calls may run at once on one session (JSON-RPC ids from one
counter). When the connector goes away (`tunnel.lost`) or the child exits (`closed`), every
call in flight fails at once with UpstreamUnavailable and the session resets: the next call
opens a new session, so a new child.
"""

import asyncio
import contextlib
import contextvars
import itertools
import logging
import time
import uuid
from dataclasses import dataclass

from channels.layers import get_channel_layer
from django.conf import settings

from servers import http_client
from servers.upstream import (
    CLIENT_CAPABILITIES,
    CLIENT_INFO,
    HANDSHAKE_VERSION,
    SESSION_EVENTS,
    CallHooks,
    UpstreamError,
    UpstreamInfo,
    UpstreamReplyTooLarge,
    UpstreamTimeout,
    UpstreamUnavailable,
    _Bounds,
)
from servers.workstation import registry, replies
from servers.workstation.replies import reply_channel

logger = logging.getLogger(__name__)


class ConnectorMissing(UpstreamUnavailable):
    """No connector serves the server for the caller; the message says how to start one."""


@dataclass(frozen=True)
class WorkstationTarget:
    """What the connector is asked to run, and whose connector serves it."""

    server_id: int
    name: str
    command: str
    args: tuple[str, ...]
    env_keys: tuple[str, ...]
    url: str
    scope: str
    workspace_id: int
    owner: str  # registry owner: the caller's user id, or "shared"

    def server_frame(self) -> dict:
        return {
            "name": self.name,
            "command": self.command,
            "args": list(self.args),
            "env_keys": list(self.env_keys),
            "url": self.url,
        }


def missing_message(name: str, *, shared: bool) -> str:
    """What a caller is told when no connector serves `name`: the command that would."""
    platform = (settings.OAUTH_ISSUER or "").rstrip("/") or "<PUBLIC_URL>"
    whose = "" if shared else " for you"
    return (
        f"No connector serves '{name}'{whose}. On the machine that should run it: "
        f"gatehouse-connect --platform {platform} --token <a connector token> --allow {name} "
        "(issue a connector token in the console under Connectors, or manage.py issue_token "
        "--connector)"
    )


@dataclass
class _Call:
    future: asyncio.Future
    hooks: CallHooks
    bounds: _Bounds
    progress_token: object = None
    deadline: asyncio.Timeout | None = None


class WorkstationSession:
    supervised = False

    def __init__(self, target: WorkstationTarget, *, on_event=None):
        self.target = target
        self.url = target.url or f"workstation:{target.name}"
        self.headers: dict[str, str] = {}
        self.info: UpstreamInfo | None = None
        self.session_id: str | None = None  # the sid of the open session
        self.in_flight = 0
        self.max_reply_bytes = settings.UPSTREAM_MAX_REPLY_BYTES
        self.handshake_timeout: float | None = None
        self.connector: dict | None = None  # the registry entry last found for the target
        self._on_event = on_event
        self._channel: str | None = None  # the consumer of the session's connector
        self._ids = itertools.count(1)
        self._calls: dict[int, _Call] = {}
        self._opened: asyncio.Future | None = None
        self._ready = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()

    # -- the connector ----------------------------------------------------------------------

    async def locate(self) -> dict | None:
        """The connector serving the target now (its registry entry), remembered on the session."""
        self.connector = await registry.lookup(self.target.server_id, self.target.owner)
        return self.connector

    async def ensure_ready(self, timeout: float | None = None) -> UpstreamInfo:
        entry = await self.locate()
        if entry is None:
            self._fail_all("the connector went away")
            raise ConnectorMissing(
                missing_message(self.target.name, shared=self.target.owner == registry.SHARED)
            )
        if self.info is not None and entry["channel"] != self._channel:
            # A newer connector took over: the old session's calls cannot be answered there,
            # and its child on the old connector is stopped.
            sid, channel = self.session_id, self._channel
            self._fail_all("the connector was replaced")
            self._spawn(self._send_close(sid, channel))
        if self.info is not None:
            return self.info
        timeout = timeout or self.handshake_timeout or settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS
        async with self._ready:
            if self.info is None:
                try:
                    await asyncio.wait_for(self._open(entry), timeout)
                except TimeoutError as exc:
                    self._fail_all("no handshake in time")
                    raise UpstreamTimeout(f"no handshake within {timeout:g} s") from exc
        return self.info

    async def _open(self, entry: dict) -> None:
        try:
            await self._start(entry)
        except BaseException:
            # Half open: the connector stops that child; the next call opens another session.
            sid, channel = self.session_id, self._channel
            self._fail_all("the session did not open")
            self._spawn(self._send_close(sid, channel))
            raise

    async def _start(self, entry: dict) -> None:
        channel = await reply_channel()
        sid = uuid.uuid4().hex
        self.session_id, self._channel = sid, entry["channel"]
        self._opened = asyncio.get_running_loop().create_future()
        channel.subscribe(sid, self._on_reply)
        await self._send(
            "tunnel.open",
            {"type": "open", "session": sid, "server": self.target.server_frame()},
            None,
        )
        await self._opened
        result = await self._exchange(
            "initialize",
            {
                "protocolVersion": HANDSHAKE_VERSION,
                "capabilities": CLIENT_CAPABILITIES,
                "clientInfo": CLIENT_INFO,
            },
            _Bounds(settings.UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS, None),
            CallHooks(),
        )
        await self._message({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.info = UpstreamInfo(
            era="handshake",
            protocol_version=result.get("protocolVersion") or HANDSHAKE_VERSION,
            server_info=result.get("serverInfo") or {},
            capabilities=result.get("capabilities") or {},
            instructions=result.get("instructions") or "",
        )

    async def _send(self, kind: str, frame: dict, deadline: float | None) -> None:
        channel = await reply_channel()
        message = {
            "type": kind,
            "session": frame["session"],
            "reply_to": channel.name,
            "frame": frame,
            "deadline": deadline,
            "max_bytes": self.max_reply_bytes,
        }
        try:
            await get_channel_layer().send(self._channel, message)
        except Exception as exc:
            # The channel layer is full or unreachable: the connector cannot be told.
            raise UpstreamUnavailable(f"the connector could not be reached: {exc!r}") from exc

    async def _message(self, message: dict, deadline: float | None = None) -> None:
        sid = self.session_id
        if sid is None:
            raise UpstreamUnavailable("the workstation session ended")
        frame = {"type": "message", "session": sid, "message": message, "deadline": deadline}
        await self._send("tunnel.message", frame, deadline)

    def reset(self) -> None:
        sid, channel = self.session_id, self._channel
        self._fail_all("the session was reset")
        if sid is not None:
            self._spawn(self._send_close(sid, channel))  # its child is not left running

    async def close(self) -> None:
        sid, channel = self.session_id, self._channel
        self._fail_all("the session was closed")
        await self._send_close(sid, channel)

    async def _send_close(self, sid: str | None, channel: str | None) -> None:
        """Tell the consumer to end session `sid` (the connector stops its child)."""
        if not sid or not channel:
            return
        own = await reply_channel()
        message = {
            "type": "tunnel.close",
            "session": sid,
            "reply_to": own.name,
            "frame": {"type": "close", "session": sid},
            "deadline": None,
        }
        with contextlib.suppress(Exception):  # best effort: the session is over here anyway
            await get_channel_layer().send(channel, message)

    def _fail_all(self, reason: str) -> None:
        """End the session here: every call in flight fails now with `reason`."""
        sid = self.session_id
        self.info, self.session_id = None, None
        if sid is not None:
            channel = replies.current()
            if channel is not None:
                channel.unsubscribe(sid)
        error = UpstreamUnavailable(reason)
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(error)
            self._opened.exception()  # retrieved: nobody may be waiting any more
        for call in self._calls.values():
            if not call.future.done():
                call.future.set_exception(error)
        self._calls.clear()

    # -- requests ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        params: dict | None,
        *,
        timeout: float,
        max_duration: float | None = None,
        hooks: CallHooks | None = None,
    ) -> dict:
        """Send one request to the workstation's server and return its result; JSON-RPC errors
        raise UpstreamError, the bounds UpstreamTimeout, a lost connector or exited server
        UpstreamUnavailable."""
        self.in_flight += 1
        try:
            await self.ensure_ready()
            return await self._exchange(
                method, params, _Bounds(timeout, max_duration), hooks or CallHooks()
            )
        finally:
            self.in_flight -= 1

    async def _exchange(self, method: str, params, bounds: _Bounds, hooks: CallHooks) -> dict:
        request_id = next(self._ids)
        params = dict(params or {})
        call = _Call(
            future=asyncio.get_running_loop().create_future(),
            hooks=hooks,
            bounds=bounds,
            progress_token=(params.get("_meta") or {}).get("progressToken"),
        )
        self._calls[request_id] = call
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        bounds.start()
        try:
            async with asyncio.timeout_at(bounds.next_deadline()) as deadline:
                call.deadline = deadline
                await self._message(body, time.time() + bounds.timeout)
                message = await call.future
        except TimeoutError as exc:
            self._cancel_later(request_id, "timed out")
            raise bounds.fired() from exc
        except asyncio.CancelledError:
            self._cancel_later(request_id, "the client cancelled")
            raise
        finally:
            self._calls.pop(request_id, None)
        if "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            raise UpstreamError(
                int(error.get("code", -32603)), str(error.get("message", "")), error.get("data")
            )
        result = message.get("result")
        if not isinstance(result, dict):
            raise UpstreamUnavailable("the workstation's server answered without a result")
        return result

    def _cancel_later(self, request_id: int, reason: str) -> None:
        if self.session_id is None:
            return
        cancel = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": request_id, "reason": reason},
        }
        self._spawn(self._message(cancel))

    def _spawn(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what comes back ----------------------------------------------------------------------

    def _on_reply(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "tunnel.lost":
            self._fail_all(f"the connector went away: {message.get('reason') or 'disconnected'}")
            return
        if kind == "tunnel.oversize":
            self._oversize(message)
            return
        frame = message.get("frame") or {}
        if frame.get("type") == "opened":
            if self._opened is not None and not self._opened.done():
                self._opened.set_result(None)
        elif frame.get("type") == "closed":
            self._fail_all(
                f"the server on the workstation stopped: {frame.get('reason') or 'exited'}"
            )
        elif frame.get("type") == "message" and isinstance(frame.get("message"), dict):
            self._on_message(frame["message"])

    def _oversize(self, message: dict) -> None:
        size = message.get("bytes", 0)
        error = UpstreamReplyTooLarge(
            http_client.ReplyTooLarge(
                f"the reply of {size} bytes exceeds {self.max_reply_bytes} bytes",
                limit=self.max_reply_bytes,
                setting="max_reply_bytes",
            )
        )
        call = self._calls.get(message.get("id"))
        if call is not None and not call.future.done():
            call.future.set_exception(error)

    def _on_message(self, message: dict) -> None:
        method = message.get("method")
        if method is None:
            call = self._calls.get(message.get("id"))
            if call is not None and not call.future.done():
                call.future.set_result(message)
            return
        if "id" in message:
            self._spawn(self._answer_server_request(message))
            return
        if method in SESSION_EVENTS or method.endswith("/list_changed"):
            if self._on_event is not None:
                self._spawn(self._on_event(message))
            return
        call = self._call_for(message)
        if call is None:
            return
        if method == "notifications/progress" and call.deadline is not None:
            # Progress means the tool is alive: its idle timeout starts again.
            call.deadline.reschedule(call.bounds.next_deadline())
        if call.hooks.on_notification is not None:
            self._spawn(call.hooks.on_notification(message))

    def _call_for(self, message: dict) -> _Call | None:
        token = (message.get("params") or {}).get("progressToken")
        if token is not None:
            for call in self._calls.values():
                if call.progress_token == token:
                    return call
        return next(reversed(self._calls.values()), None)

    def _asker_for(self, message: dict) -> _Call | None:
        """The call a server-to-client request belongs to: the one its progress token names,
        else this person's most recent call that can answer (sessions are per person)."""
        token = ((message.get("params") or {}).get("_meta") or {}).get("progressToken")
        if token is not None:
            for call in self._calls.values():
                if call.progress_token == token and call.hooks.on_request is not None:
                    return call
        return next(
            (c for c in reversed(self._calls.values()) if c.hooks.on_request is not None), None
        )

    async def _answer_server_request(self, message: dict) -> None:
        asking = self._asker_for(message)
        if asking is None:
            reply = {"error": {"code": -32601, "message": "The client cannot answer this request."}}
        else:
            reply = await asking.hooks.on_request(message)
        with contextlib.suppress(UpstreamUnavailable):
            await self._message({**reply, "id": message["id"], "jsonrpc": "2.0"})

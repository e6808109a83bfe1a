"""The connector socket, `/connect/ws`: where `gatehouse-connect` dials out to the platform.

One consumer per connected connector. It authenticates the connector token, answers each
`hello` with what the person may serve (`welcome`), names itself in the registry
(`servers/workstation/registry.py`) for every server it serves, and carries frames both ways:
what gateway sessions send over the channel layer (`tunnel.open`, `tunnel.message`,
`tunnel.close`) goes to the connector, and what the connector sends about a session goes back to
that session's reply channel, only for sessions this consumer opened. Heartbeats go both ways;
a connector silent for three intervals is closed (4408). Each heartbeat also checks again what
the person may serve (their token, membership and role, the workspace's servers), drops what is
no longer offered and sends a fresh `welcome` when the offer changed. When the socket ends, every
session still open hears `tunnel.lost`, so its calls fail at once instead of at their timeout.

Bounds, since one token could otherwise open sockets and sessions without end: live connections
per token (WORKSTATION_MAX_CONNECTIONS_PER_TOKEN, 4429), one `hello` handled per second (a
quicker one is applied at the next heartbeat), sessions per connector
(WORKSTATION_MAX_SESSIONS_PER_CONNECTOR) and a frame's size (the largest reply a session takes,
plus room for the frame around it).
"""

import asyncio
import contextlib
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from dataplane import protocol
from identities import connector_sessions as sessions
from servers.workstation import registry

logger = logging.getLogger(__name__)

_MAX_NAMES = 200
_HELLO_EVERY_SECONDS = 1.0
_FRAME_MARGIN_BYTES = 64 * 1024


def _bearer(scope) -> str:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            return secret.strip() if scheme.lower() == "bearer" else ""
    return ""


def _session_frame(sid: str, **frame) -> dict:
    """What a gateway session's reply channel receives: a frame about session `sid`, as if the
    connector had sent it (the consumer answers for it when it refuses or drops the session)."""
    return {"type": "tunnel.frame", "session": sid, "frame": {"session": sid, **frame}}


class WorkstationTunnel(AsyncWebsocketConsumer):
    caller: sessions.ConnectorCaller | None = None

    async def connect(self):
        self.caller = None
        self.connector_id: int | None = None
        self.host = ""
        self.serving: dict[str, tuple[int, str]] = {}  # name -> (server id, registry owner)
        self.open_sessions: dict[str, str] = {}  # sid -> reply channel
        self.reply_limits: dict[str, int] = {}
        self.allowed: set[str] = set()  # what the last hello named
        self.replaced: set[tuple[int, str]] = set()  # taken over by a newer connector
        self.offered: list[dict] = []  # what the last welcome offered
        self.last_hello = float("-inf")
        self.last_frame = time.monotonic()
        self.heartbeats: asyncio.Task | None = None
        self.ending = ""
        found = await database_sync_to_async(sessions.authenticate)(_bearer(self.scope))
        # Accepted first: a close code after the handshake tells the connector why.
        await self.accept()
        if isinstance(found, int):
            await self.close(code=found)
            return
        self.caller = found
        self.heartbeats = asyncio.get_running_loop().create_task(self._heartbeat())

    # -- from the connector -------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.caller is None:
            return
        self.last_frame = time.monotonic()
        size = len(text_data or bytes_data or "")
        if size > self._largest_frame():
            await self._end("a frame was larger than any reply the platform takes", code=1009)
            return
        try:
            frame = json.loads(text_data if text_data is not None else bytes_data)
        except (TypeError, ValueError):
            await self._end("a frame was not JSON", code=1007)
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind == "hello":
            await self._hello(frame)
        elif kind == "ping":
            await self._send({"type": "pong"})
        elif kind in ("opened", "closed", "message"):
            await self._session_frame(frame, size)

    def _largest_frame(self) -> int:
        return max(settings.UPSTREAM_MAX_REPLY_BYTES, *self.reply_limits.values(), 0) + (
            _FRAME_MARGIN_BYTES
        )

    async def _hello(self, frame: dict) -> None:
        names = frame.get("servers") if isinstance(frame.get("servers"), list) else []
        self.allowed = {n for n in names[:_MAX_NAMES] if isinstance(n, str)}
        now = time.monotonic()
        if self.connector_id is not None and now - self.last_hello < _HELLO_EVERY_SECONDS:
            return  # too soon after the last: the next heartbeat applies what it names
        self.last_hello = now
        if self.connector_id is None:
            self.host = str(frame.get("host") or "")[:255]
            offers = await database_sync_to_async(sessions.offers_for)(self.caller)
            connector_id = await database_sync_to_async(sessions.connected)(
                caller=self.caller,
                host=self.host,
                version=str(frame.get("version") or ""),
                servers=[o.name for o in offers if o.name in self.allowed],
                channel=self.channel_name,
            )
            if connector_id is None:
                await self._goodbye(
                    "this connector token already has "
                    f"{settings.WORKSTATION_MAX_CONNECTIONS_PER_TOKEN} live connections",
                    sessions.TOO_MANY,
                )
                return
            self.connector_id = connector_id
            await self._apply_offers(offers, welcome=True, record=False)
        else:
            await self._refresh_offers(welcome=True)

    async def _refresh_offers(self, *, welcome: bool) -> None:
        offers = await database_sync_to_async(sessions.offers_for)(self.caller)
        await self._apply_offers(offers, welcome=welcome, record=True)

    async def _apply_offers(self, offers, *, welcome: bool, record: bool) -> None:
        """Serve what is both offered and allowed here; unregister the rest. A welcome goes out
        when asked for (a hello) or when the offer or what is served changed."""
        caller = self.caller
        served = [
            o
            for o in offers
            if o.name in self.allowed
            and (o.server_id, registry.owner_of(o.scope, caller.user_id)) not in self.replaced
        ]
        serving_names = [o.name for o in served]
        offered = [o.frame() for o in offers]
        changed = offered != self.offered or set(serving_names) != set(self.serving)
        if record and changed:
            await database_sync_to_async(sessions.serving)(
                caller=caller, connector_id=self.connector_id, servers=serving_names
            )
        wanted = {o.name: (o.server_id, registry.owner_of(o.scope, caller.user_id)) for o in served}
        for name, (server_id, owner) in list(self.serving.items()):
            if wanted.get(name) != (server_id, owner):
                await registry.unregister(server_id, owner, self.channel_name)
        self.serving = wanted
        self.offered = offered
        await self._register()
        if not (welcome or changed):
            return
        await self._send(
            {
                "type": "welcome",
                "connector": self.connector_id,
                "heartbeat_seconds": settings.WORKSTATION_HEARTBEAT_SECONDS,
                "serving": serving_names,
                "offered": offered,
            }
        )

    async def _register(self) -> None:
        """Name this connector in the registry for each server it serves (also the refresh of
        each entry's time to live); a connector it replaces hears so."""
        entry = {"channel": self.channel_name, "connector": self.connector_id, "host": self.host}
        for server_id, owner in self.serving.values():
            replaced = await registry.register(server_id, owner, entry)
            if replaced is not None:
                with contextlib.suppress(Exception):
                    await self.channel_layer.send(
                        replaced["channel"],
                        {"type": "tunnel.replaced", "server_id": server_id, "owner": owner},
                    )

    async def _session_frame(self, frame: dict, size: int) -> None:
        sid = frame.get("session")
        reply_to = self.open_sessions.get(sid) if isinstance(sid, str) else None
        if reply_to is None:
            return  # not a session this consumer opened
        if frame["type"] == "closed":
            self.open_sessions.pop(sid, None)
            self.reply_limits.pop(sid, None)
        message = frame.get("message")
        limit = self.reply_limits.get(sid)
        if frame["type"] == "message" and limit and size > limit:
            # Refused here: a reply past the session's bound never crosses the channel layer.
            rpc_id = message.get("id") if isinstance(message, dict) else None
            await self._reply(
                reply_to,
                {"type": "tunnel.oversize", "session": sid, "id": rpc_id, "bytes": size},
            )
            return
        await self._reply(reply_to, {"type": "tunnel.frame", "session": sid, "frame": frame})

    async def _reply(self, reply_to: str, message: dict) -> None:
        """Send to a gateway session's reply channel. When the channel layer refuses (full, or
        Redis unreachable), that session is dropped and its child stopped; the others go on."""
        try:
            await self.channel_layer.send(reply_to, message)
        except Exception as exc:
            sid = message["session"]
            logger.warning("workstation session %s dropped: its reply failed: %r", sid, exc)
            if self.open_sessions.pop(sid, None) is not None:
                self.reply_limits.pop(sid, None)
                await self._send({"type": "close", "session": sid})

    # -- from gateway sessions (channel layer) -------------------------------------------------

    async def tunnel_open(self, event):
        sid, reply_to = event["session"], event["reply_to"]
        server = (event.get("frame") or {}).get("server") or {}
        if server.get("name") not in self.serving:
            reason = f"this connector no longer serves '{server.get('name')}'"
            await self._reply(reply_to, _session_frame(sid, type="closed", reason=reason))
            return
        limit = settings.WORKSTATION_MAX_SESSIONS_PER_CONNECTOR
        if len(self.open_sessions) >= limit:
            reason = f"this connector already runs {limit} sessions"
            await self._reply(reply_to, _session_frame(sid, type="closed", reason=reason))
            return
        self.open_sessions[sid] = reply_to
        if event.get("max_bytes"):
            self.reply_limits[sid] = int(event["max_bytes"])
        await self._send(event["frame"])

    async def tunnel_message(self, event):
        sid = event["session"]
        if sid not in self.open_sessions:
            # Dropped here (its reply channel was full): the gateway session hears so, and
            # opens a new one, instead of waiting for replies that will not come.
            closed = _session_frame(sid, type="closed", reason="the session is not open here")
            with contextlib.suppress(Exception):
                await self.channel_layer.send(event["reply_to"], closed)
            return
        frame = event["frame"]
        deadline = event.get("deadline")
        message = frame.get("message") or {}
        if deadline is not None and time.time() > deadline:
            # Too late to be worth running; a request is answered so its caller stops waiting.
            if "id" in message and "method" in message:
                error = {
                    "jsonrpc": "2.0",
                    "id": message["id"],
                    "error": {
                        "code": protocol.UPSTREAM_TIMEOUT,
                        "message": "The deadline passed before the call reached the workstation.",
                    },
                }
                frame = _session_frame(sid, type="message", message=error)
                await self._reply(event["reply_to"], frame)
            return
        await self._send(frame)

    async def tunnel_close(self, event):
        sid = event["session"]
        if self.open_sessions.pop(sid, None) is not None:
            self.reply_limits.pop(sid, None)
            await self._send({"type": "close", "session": sid})

    async def tunnel_revoke(self, event):
        await self._goodbye(event.get("reason") or "revoked", sessions.REVOKED)

    async def tunnel_replaced(self, event):
        key = (event.get("server_id"), event.get("owner"))
        self.replaced.add(key)  # not taken back at the next heartbeat
        self.serving = {n: s for n, s in self.serving.items() if s != key}
        if not self.serving:
            await self._goodbye("replaced by a newer connector", sessions.REPLACED)

    # -- heartbeats and the end ------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        every = settings.WORKSTATION_HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(every)
            if time.monotonic() - self.last_frame > 3 * every:
                await self._end("heartbeat lost", code=sessions.HEARTBEAT_LOST)
                return
            await self._send({"type": "ping"})
            if self.connector_id is None:
                continue
            try:
                allowed = await database_sync_to_async(sessions.still_allowed)(self.caller)
                if not allowed:
                    await self._goodbye("the connector token was revoked", sessions.REVOKED)
                    return
                # What the person may serve is checked again: a lost capability, a changed
                # scope, a new or deleted server apply within one heartbeat.
                await self._refresh_offers(welcome=False)
                await database_sync_to_async(sessions.heartbeat)(
                    caller=self.caller, connector_id=self.connector_id
                )
            except Exception as exc:
                # Without its checks the connection must not go on: the connector reconnects.
                logger.warning("connector %s: heartbeat failed: %r", self.connector_id, exc)
                await self._end("the platform could not check the connector", code=1011)
                return

    async def _goodbye(self, reason: str, code: int) -> None:
        await self._send({"type": "bye", "reason": reason})
        await self._end(reason, code=code)

    async def _end(self, reason: str, *, code: int) -> None:
        self.ending = self.ending or reason
        await self.close(code=code)

    async def _send(self, frame: dict) -> None:
        with contextlib.suppress(Exception):  # the socket may be closing
            await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def disconnect(self, code):
        if self.heartbeats is not None and self.heartbeats is not asyncio.current_task():
            self.heartbeats.cancel()
        if self.caller is None:
            return
        reason = self.ending or f"the connection closed ({code})"
        for sid, reply_to in list(self.open_sessions.items()):
            with contextlib.suppress(Exception):
                await self.channel_layer.send(
                    reply_to, {"type": "tunnel.lost", "session": sid, "reason": reason}
                )
        self.open_sessions.clear()
        for server_id, owner in self.serving.values():
            await registry.unregister(server_id, owner, self.channel_name)
        self.serving = {}
        if self.connector_id is not None:
            await database_sync_to_async(sessions.disconnected)(
                caller=self.caller, connector_id=self.connector_id, reason=reason
            )

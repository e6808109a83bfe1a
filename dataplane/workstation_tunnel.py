"""The connector socket, `/connect/ws`: where `gatehouse-connect` dials out to the platform.

One consumer per connected connector. It authenticates the connector token, answers each
`hello` with what the person may serve (`welcome`), names itself in the registry
(`servers/workstation/registry.py`) for every server it serves, and carries frames both ways:
what gateway sessions send over the channel layer (`tunnel.open`, `tunnel.message`,
`tunnel.close`) goes to the connector, and what the connector sends about a session goes back to
that session's reply channel, only for sessions this consumer opened. Heartbeats go both ways;
a connector silent for three intervals is closed (4408). When the socket ends, every session
still open hears `tunnel.lost`, so its calls fail at once instead of at their timeout.
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


def _bearer(scope) -> str:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            return secret.strip() if scheme.lower() == "bearer" else ""
    return ""


class WorkstationTunnel(AsyncWebsocketConsumer):
    caller: sessions.ConnectorCaller | None = None

    async def connect(self):
        self.caller = None
        self.connector_id: int | None = None
        self.host = ""
        self.serving: dict[str, tuple[int, str]] = {}  # name -> (server id, registry owner)
        self.open_sessions: dict[str, str] = {}  # sid -> reply channel
        self.reply_limits: dict[str, int] = {}
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
            await self._session_frame(frame, len(text_data or bytes_data or ""))

    async def _hello(self, frame: dict) -> None:
        caller = self.caller
        names = frame.get("servers") if isinstance(frame.get("servers"), list) else []
        allowed = {n for n in names[:_MAX_NAMES] if isinstance(n, str)}
        self.host = str(frame.get("host") or "")[:255]
        offers = await database_sync_to_async(sessions.offers_for)(caller)
        served = [o for o in offers if o.name in allowed]
        serving_names = [o.name for o in served]
        if self.connector_id is None:
            self.connector_id = await database_sync_to_async(sessions.connected)(
                caller=caller,
                host=self.host,
                version=str(frame.get("version") or ""),
                servers=serving_names,
                channel=self.channel_name,
            )
        else:
            await database_sync_to_async(sessions.serving)(
                caller=caller, connector_id=self.connector_id, servers=serving_names
            )
        wanted = {o.name: (o.server_id, registry.owner_of(o.scope, caller.user_id)) for o in served}
        for name, (server_id, owner) in list(self.serving.items()):
            if wanted.get(name) != (server_id, owner):
                await registry.unregister(server_id, owner, self.channel_name)
        self.serving = wanted
        await self._register()
        await self._send(
            {
                "type": "welcome",
                "connector": self.connector_id,
                "heartbeat_seconds": settings.WORKSTATION_HEARTBEAT_SECONDS,
                "serving": serving_names,
                "offered": [o.frame() for o in offers],
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
            await self.channel_layer.send(
                reply_to, {"type": "tunnel.oversize", "session": sid, "id": rpc_id, "bytes": size}
            )
            return
        await self.channel_layer.send(
            reply_to, {"type": "tunnel.frame", "session": sid, "frame": frame}
        )

    # -- from gateway sessions (channel layer) -------------------------------------------------

    async def tunnel_open(self, event):
        sid, reply_to = event["session"], event["reply_to"]
        server = (event.get("frame") or {}).get("server") or {}
        if server.get("name") not in self.serving:
            await self.channel_layer.send(
                reply_to,
                {
                    "type": "tunnel.frame",
                    "session": sid,
                    "frame": {
                        "type": "closed",
                        "session": sid,
                        "reason": f"this connector no longer serves '{server.get('name')}'",
                    },
                },
            )
            return
        self.open_sessions[sid] = reply_to
        if event.get("max_bytes"):
            self.reply_limits[sid] = int(event["max_bytes"])
        await self._send(event["frame"])

    async def tunnel_message(self, event):
        sid = event["session"]
        if sid not in self.open_sessions:
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
                await self.channel_layer.send(
                    event["reply_to"],
                    {
                        "type": "tunnel.frame",
                        "session": sid,
                        "frame": {"type": "message", "session": sid, "message": error},
                    },
                )
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
            await self._register()
            allowed = await database_sync_to_async(sessions.still_allowed)(self.caller)
            if not allowed:
                await self._goodbye("the connector token was revoked", sessions.REVOKED)
                return
            await database_sync_to_async(sessions.heartbeat)(
                caller=self.caller, connector_id=self.connector_id
            )

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

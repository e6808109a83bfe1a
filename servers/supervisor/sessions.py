"""Bridge sessions: the caller's side of a Streamable HTTP session, bound to one child process.

A session belongs to the supervisor, not to the child, so it survives restarts. It owns the
caller-facing ids of the child's server-to-client requests (so a reply POSTed back finds the
child and the child's own id again), its open GET stream, and its requests in flight.
"""

import asyncio
import itertools
import secrets
import time
from typing import Any

from servers.supervisor.exchange import Exchange
from servers.supervisor.process import ManagedProcess

# A session nobody has used for this long is forgotten, as if the caller had sent DELETE.
IDLE_SECONDS = 3600.0
_CLOSED = None


def _key(request_id: Any) -> tuple[bool, Any]:
    # JSON-RPC distinguishes 1 from "1".
    return isinstance(request_id, str), request_id


class BridgeSession:
    def __init__(self, *, server_id: int, process: ManagedProcess, protocol_version: str, caps):
        self.id = secrets.token_urlsafe(24)
        self.server_id = server_id
        self.process = process
        self.protocol_version = protocol_version
        self.capabilities: dict = caps if isinstance(caps, dict) else {}
        self.last_used = time.monotonic()
        self.closed = False
        self._in_flight: dict[tuple[bool, Any], Exchange] = {}
        self._outbound_ids = itertools.count(1)
        self._outbound: dict[tuple[bool, Any], tuple[ManagedProcess, int, Any]] = {}
        self._stream: asyncio.Queue | None = None
        process.listeners.add(self)

    # Requests in flight

    def track(self, request_id: Any, exchange: Exchange) -> bool:
        """False if the caller already has a request with this id in flight."""
        if _key(request_id) in self._in_flight:
            return False
        self._in_flight[_key(request_id)] = exchange
        return True

    def untrack(self, request_id: Any, exchange: Exchange) -> None:
        if self._in_flight.get(_key(request_id)) is exchange:
            del self._in_flight[_key(request_id)]

    def in_flight(self, request_id: Any) -> Exchange | None:
        return self._in_flight.get(_key(request_id))

    # Server-to-client requests

    def outbound(self, process: ManagedProcess, generation: int, message: dict) -> dict:
        """The child's request with a session-unique id the caller will answer to."""
        caller_id = f"gh-{next(self._outbound_ids)}"
        self._outbound[_key(caller_id)] = (process, generation, message["id"])
        return {**message, "id": caller_id}

    def take_reply_route(self, caller_id: Any) -> tuple[ManagedProcess, int, Any] | None:
        return self._outbound.pop(_key(caller_id), None)

    # The GET stream

    def open_stream(self) -> asyncio.Queue:
        # A new GET replaces the previous one: it is usually a reconnect after a dropped stream.
        self.close_stream()
        self._stream = asyncio.Queue()
        return self._stream

    def close_stream(self, queue: asyncio.Queue | None = None) -> None:
        if self._stream is not None and (queue is None or queue is self._stream):
            self._stream.put_nowait(_CLOSED)
            self._stream = None

    @property
    def has_stream(self) -> bool:
        return self._stream is not None

    # What the process could not attribute to one request (the process's Listener protocol)

    def deliver(self, process: ManagedProcess, message: dict) -> None:
        if self._stream is not None:
            self._stream.put_nowait(message)
        elif message.get("method") == "notifications/message":
            for exchange in self._in_flight.values():
                exchange.push(message)
                break

    def offer_request(self, process: ManagedProcess, message: dict) -> bool:
        if self._stream is None:
            return False
        self._stream.put_nowait(self.outbound(process, process.generation, message))
        return True

    async def close(self) -> None:
        self.closed = True
        self.process.listeners.discard(self)
        self.close_stream()
        for exchange in list(self._in_flight.values()):
            await self.process.cancel(exchange, "the session was closed")
        self._in_flight.clear()
        self._outbound.clear()


class SessionStore:
    def __init__(self):
        self._sessions: dict[str, BridgeSession] = {}

    def add(self, session: BridgeSession) -> None:
        self._sessions[session.id] = session

    def get(self, session_id: str | None, *, server_id: int) -> BridgeSession | None:
        session = self._sessions.get(session_id or "")
        if session is None or session.server_id != server_id:
            return None
        session.last_used = time.monotonic()
        return session

    async def remove(self, session: BridgeSession) -> None:
        self._sessions.pop(session.id, None)
        await session.close()

    async def remove_idle(self) -> None:
        cutoff = time.monotonic() - IDLE_SECONDS
        for session in list(self._sessions.values()):
            if session.last_used < cutoff and not session.has_stream:
                await self.remove(session)

    async def remove_all(self) -> None:
        for session in list(self._sessions.values()):
            await self.remove(session)

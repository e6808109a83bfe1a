"""Upstream sessions pooled per process: one per (assignment, identity), reused by every call.

A session is replaced when what it connects with changes: the URL, the transport, or the headers
(the identity's credentials among them); a workstation session when what its connector runs
changed. One unused for UPSTREAM_SESSION_IDLE_SECONDS is closed (the upstream hears DELETE, a
workstation's server is stopped) and dropped, and past UPSTREAM_MAX_SESSIONS the least recently
used goes first, so the pool does not keep an entry per assignment and person forever.
"""

import asyncio
import time
from collections import OrderedDict

from django.conf import settings

from servers.legacy_upstream import LegacySseSession
from servers.upstream import UpstreamSession
from servers.workstation.session import WorkstationSession, WorkstationTarget


class UpstreamPool:
    def __init__(self):
        # Least recently used first; each with when it was last handed out.
        self._sessions: OrderedDict[tuple, tuple[UpstreamSession | LegacySseSession, float]] = (
            OrderedDict()
        )
        self._closing: set[asyncio.Task] = set()  # the loop keeps only weak references

    def get(
        self,
        key: tuple,
        url: str,
        headers: dict[str, str],
        *,
        transport="streamable_http",
        on_event=None,
        max_reply_bytes: int | None = None,
        handshake_timeout: float | None = None,
        supervised: bool = False,
        workstation: WorkstationTarget | None = None,
    ):
        now = time.monotonic()
        self._evict(now, keep=key)
        session, _ = self._sessions.get(key, (None, 0.0))
        kind = LegacySseSession if transport == "sse" else UpstreamSession
        if workstation is not None:
            # Through the connector's socket; replaced when what it runs changed.
            if not isinstance(session, WorkstationSession) or session.target != workstation:
                if session is not None:
                    self._close_later(session)
                session = WorkstationSession(workstation, on_event=on_event)
        elif (
            session is None
            or type(session) is not kind
            or session.url != url
            or session.headers != headers
            or session.supervised != supervised
        ):
            if session is not None:
                # Replaced (new URL, transport or credentials): end the old upstream session.
                self._close_later(session)
            session = (
                UpstreamSession(url, headers, on_event=on_event, supervised=True)
                if supervised
                else kind(url, headers, on_event=on_event)
            )
        self._sessions[key] = (session, now)
        self._sessions.move_to_end(key)
        # The server's own bound, else the setting; read on each call, so a change applies at once.
        session.max_reply_bytes = max_reply_bytes or settings.UPSTREAM_MAX_REPLY_BYTES
        session.handshake_timeout = handshake_timeout  # None: UPSTREAM_HANDSHAKE_TIMEOUT_SECONDS
        return session

    async def discard(self, key: tuple) -> None:
        session, _ = self._sessions.pop(key, (None, 0.0))
        if session is not None:
            await session.close()

    def close_sessions(self, keys: set[tuple]) -> int:
        """Close the sessions under `keys` that no request is using (their person lost access);
        how many were closed. One in use ends when its call does and idles out."""
        closed = 0
        for key in keys & self._sessions.keys():
            session, _ = self._sessions[key]
            if session.in_flight:
                continue
            del self._sessions[key]
            self._close_later(session)
            closed += 1
        return closed

    async def close_workstation_sessions(self) -> int:
        """Close every workstation session (the worker is stopping): each connector stops the
        child it ran for this worker instead of keeping it until the socket drops. How many."""
        keys = [k for k, (s, _) in self._sessions.items() if isinstance(s, WorkstationSession)]
        sessions = [self._sessions.pop(key)[0] for key in keys]
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        return len(sessions)

    def __contains__(self, key: tuple) -> bool:
        return key in self._sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def _evict(self, now: float, *, keep: tuple) -> None:
        """Close sessions idle too long, and the least recently used past the cap; never one
        with a request under way."""
        idle_after = settings.UPSTREAM_SESSION_IDLE_SECONDS
        excess = len(self._sessions) - settings.UPSTREAM_MAX_SESSIONS
        for key, (session, used_at) in list(self._sessions.items()):
            idle = now - used_at >= idle_after
            if not idle and excess <= 0:
                break  # the rest were used more recently
            if key == keep or session.in_flight:
                continue
            del self._sessions[key]
            excess -= 1
            self._close_later(session)

    def _close_later(self, session) -> None:
        task = asyncio.get_running_loop().create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


pool = UpstreamPool()

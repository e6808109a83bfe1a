"""Upstream sessions pooled per process: one per (assignment, identity), reused by every call.

A session is replaced when what it connects with changes: the URL, the transport, or the headers
(the identity's credentials among them).
"""

import asyncio

from django.conf import settings

from servers.legacy_upstream import LegacySseSession
from servers.upstream import UpstreamSession


class UpstreamPool:
    def __init__(self):
        self._sessions: dict[tuple, UpstreamSession | LegacySseSession] = {}

    def get(
        self,
        key: tuple,
        url: str,
        headers: dict[str, str],
        *,
        transport="streamable_http",
        on_event=None,
        max_reply_bytes: int | None = None,
    ):
        session = self._sessions.get(key)
        kind = LegacySseSession if transport == "sse" else UpstreamSession
        if (
            session is None
            or type(session) is not kind
            or session.url != url
            or session.headers != headers
        ):
            if session is not None:
                # Replaced (new URL, transport or credentials): end the old upstream session.
                asyncio.get_running_loop().create_task(session.close())
            session = kind(url, headers, on_event=on_event)
            self._sessions[key] = session
        # The server's own bound, else the setting; read on each call, so a change applies at once.
        session.max_reply_bytes = max_reply_bytes or settings.UPSTREAM_MAX_REPLY_BYTES
        return session

    async def discard(self, key: tuple) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            await session.close()


pool = UpstreamPool()

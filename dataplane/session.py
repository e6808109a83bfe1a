"""Handshake-era sessions, sealed into the `Mcp-Session-Id` itself.

No worker owns a session: the id carries the session state (protocol version, caller, client
name and capabilities) encrypted and authenticated with AES-GCM under a key derived once per
process from SECRET_KEY, so any worker can serve any request of any session without a lookup.
Only ended sessions are remembered, in the shared cache, so DELETE is honoured everywhere.
Upstream sessions are not part of it: they are pooled per worker and per (assignment, identity).
"""

import hashlib
import time
from dataclasses import dataclass, field

from django.core.cache import cache as shared_cache

from core import sealing

SESSION_MAX_AGE_SECONDS = 7 * 24 * 3600
_ENDED_PREFIX = "mcp:ended:"


@dataclass(frozen=True)
class SessionState:
    gateway_id: int
    principal: str
    protocol_version: str
    client_name: str = ""
    client_version: str = ""
    capabilities: dict = field(default_factory=dict)
    issued_at: int = 0
    # The channel of the legacy HTTP+SSE stream that answers of this session go to.
    stream: str = ""


_PURPOSE, _AAD = b"mcp-session-id", b"mcp-session"


def seal(state: SessionState) -> str:
    values = [
        state.gateway_id,
        state.principal,
        state.protocol_version,
        state.client_name,
        state.client_version,
        state.capabilities,
        state.issued_at or int(time.time()),
        state.stream,
    ]
    return sealing.seal(values, purpose=_PURPOSE, aad=_AAD)


def unseal(session_id: str) -> SessionState | None:
    """The state sealed in `session_id`, or None if it is forged, garbled or too old."""
    try:
        gateway_id, principal, version, name, client_version, caps, issued, stream = sealing.unseal(
            session_id, purpose=_PURPOSE, aad=_AAD
        )
    except (ValueError, TypeError):
        return None
    if time.time() - issued > SESSION_MAX_AGE_SECONDS:
        return None
    return SessionState(gateway_id, principal, version, name, client_version, caps, issued, stream)


def _ended_key(session_id: str) -> str:
    return _ENDED_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()[:32]


def ended_key(session_id: str) -> str:
    return _ended_key(session_id)


async def end(session_id: str) -> None:
    await shared_cache.aset(_ended_key(session_id), 1, SESSION_MAX_AGE_SECONDS)

"""MCP SDK clients pinned to one protocol revision, for talking to upstreams and gateways in tests.

The SDK's ``Client`` picks the era from ``mode``: ``"2026-07-28"`` adopts that revision with no
probe, ``"legacy"`` runs ``initialize`` offering the newest handshake revision (2025-11-25) and
``"auto"`` probes ``server/discover`` and falls back to ``initialize``. It cannot offer an older
handshake revision, so :func:`handshake_session` performs the handshake itself with the same
SDK pieces (``ClientSession.send_request`` + ``adopt``), which then stamps
``MCP-Protocol-Version: <version>`` on every later request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp_types import (
    ClientCapabilities,
    Implementation,
    InitializedNotification,
    InitializeRequest,
    InitializeRequestParams,
    InitializeResult,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_MODERN_VERSION

CLIENT_INFO = Implementation(name="gatehouse-tests", version="1.0.0")


def _http(headers: dict[str, str] | None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))


@asynccontextmanager
async def handshake_session(
    url: str, *, version: str, headers: dict[str, str] | None = None, **session_kwargs: Any
) -> AsyncIterator[ClientSession]:
    """A handshake-era session on ``url`` that offers exactly ``version`` in ``initialize``."""
    if version not in HANDSHAKE_PROTOCOL_VERSIONS:
        raise ValueError(f"{version!r} is not a handshake-era protocol version")
    async with (
        _http(headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(
            dispatcher=JSONRPCDispatcher(read, write), client_info=CLIENT_INFO, **session_kwargs
        ) as session,
    ):
        request = InitializeRequest(
            params=InitializeRequestParams(
                protocol_version=version,
                capabilities=ClientCapabilities(),
                client_info=CLIENT_INFO,
            )
        )
        result = await session.send_request(request, InitializeResult)
        session.adopt(result)
        await session.send_notification(InitializedNotification())
        yield session


@asynccontextmanager
async def modern_client(
    url: str,
    *,
    version: str = LATEST_MODERN_VERSION,
    headers: dict[str, str] | None = None,
    **client_kwargs: Any,
) -> AsyncIterator[Client]:
    """A stateless client on ``url`` pinned to a 2026-era ``version`` (no discover probe)."""
    async with (
        _http(headers) as http,
        Client(
            streamable_http_client(url, http_client=http),
            mode=version,
            client_info=CLIENT_INFO,
            **client_kwargs,
        ) as client,
    ):
        yield client
